"""One table on one NVIDIA GPU: tfzoo against plain Keras on JAX, Keras on PyTorch, torchvision.

Prepared for a machine with one recent NVIDIA GPU, JAX and PyTorch (with
torchvision) installed, and no TensorFlow, Keras or internet there: Keras,
keras-tuner, tfzoo and their small pure-Python dependencies travel as wheels
(``benchmarks/gpu.sh wheels`` here, ``benchmarks/gpu.sh run`` there; see that
script). The rows:

* small CNN (``tfzoo.models.build_small_cnn`` fed by tfzoo's ``PyDataset``
  against the same network as a plain ``keras.Sequential`` fed NumPy), batch
  256 and 2048, ``float32`` and ``mixed_bfloat16``, ``jit_compile=True``:
  training samples/s and MFU (model FLOPs, counted from the shapes as
  ``benchmarks/throughput.py`` counts them, against the peak of a square
  matrix product of that dtype measured through JAX in the same run);
* char-RNN (``build_char_rnn``: Embedding 64, LSTM 384, 100 characters, batch
  256): training characters/s of tfzoo on JAX against Keras's ``LSTM`` on JAX
  and on PyTorch (and tfzoo on PyTorch);
* Mask R-CNN (``build_mask_rcnn`` on a Keras ResNet-50 backbone, its FPN and
  heads at torchvision's widths: FPN 256, box head 1024, mask head 4 x 256;
  RPN, RoI and detection counts set the same on both sides) on JAX against
  ``torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None,
  weights_backbone=None)`` on PyTorch, batch 8 and 32 at 128 and 512 px:
  training step seconds (Adam, one fixed batch already on the device) and
  inference images/s (a compiled call on JAX, ``torch.no_grad()`` eval on
  PyTorch; the outputs stay on the device on both);
* an estimator's 1-row predict (``PerceptronClassifier``) against
  ``model.predict`` on the same Keras model, on each backend.

Keras fixes its backend when imported, so the script is a driver that runs
one child process per backend (PyTorch first, then JAX, one after the other
so that they do not share the GPU) and prints one table. Every row is
there: one that could not run says why (a package missing, an error, the
time budget). ``--budget-s`` (default 420) bounds the run: no new row starts
after it, so the table comes in under 8 minutes unless one row alone runs
long.

    python benchmarks/gpu.py              # on the GPU machine (after gpu.sh's install)
    python benchmarks/gpu.py --dry-run    # every size shrunk: well under a minute on 2 CPU cores

``--dry-run`` runs the same code with tiny sizes (the children side by side),
for CI (``tests/test_gpu_benchmark.py``); its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

#: The sizes of a real run and of ``--dry-run``.
SIZES = {
    False: dict(
        peak_n=8192,
        peak_repeats=10,
        cnn_batches=(256, 2048),
        cnn_steps=40,
        cnn_epochs=3,
        rnn_units=384,
        rnn_seq=100,
        rnn_batch=256,
        rnn_steps=8,
        rnn_epochs=3,
        est_rows=2000,
        est_calls=200,
        mrcnn_configs=((8, 128), (32, 128), (8, 512), (32, 512)),
        mrcnn_warmup=2,
        mrcnn_steps=10,
        mrcnn_infer=10,
    ),
    True: dict(
        peak_n=256,
        peak_repeats=2,
        cnn_batches=(8, 8),  # one row per precision (each batch size compiles anew)
        cnn_steps=2,
        cnn_epochs=2,
        rnn_units=16,
        rnn_seq=10,
        rnn_batch=4,
        rnn_steps=2,
        rnn_epochs=2,
        est_rows=200,
        est_calls=5,
        # one shape for all four: one compiled step, the same code
        mrcnn_configs=((2, 32),) * 4,
        mrcnn_warmup=1,
        mrcnn_steps=2,
        mrcnn_infer=2,
    ),
}
PRECISIONS = ("float32", "mixed_bfloat16")
VOCAB = 65
NUM_CLASSES = 3  # make_shapes' classes; torchvision counts the background too

#: Mask R-CNN's sizes on both sides, as far as they map (torchvision's names in
#: ``torchvision_kwargs``). A dry run keeps the structure, with tiny widths.
MRCNN_HEADS = {
    False: dict(
        fpn_filters=256,
        rpn_filters=256,
        fc_units=1024,
        mask_filters=256,
        mask_convs=4,
        anchor_sizes=(32, 64, 128, 256),
        pre_nms_top_k=1000,
        post_nms_top_k=256,
        inference_post_nms_top_k=100,
        rpn_samples=256,
        num_rois=64,
        num_mask_rois=16,
        foreground_fraction=0.25,
        max_detections=16,
        score_threshold=0.05,
        detection_iou=0.5,
    ),
    True: dict(
        fpn_filters=8,
        rpn_filters=8,
        fc_units=16,
        mask_filters=8,
        mask_convs=1,
        pre_nms_top_k=64,
        post_nms_top_k=32,
        inference_post_nms_top_k=16,
        rpn_samples=32,
        num_rois=16,
        num_mask_rois=4,
        foreground_fraction=0.25,
        max_detections=4,
        score_threshold=0.05,
        detection_iou=0.5,
    ),
}
RESNET50_TAPS = ["conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"]


# -- the plan: every row of the table, in order ------------------------------


def plan(dry):
    """``[(key, unit, higher_is_better)]`` for every row; ``key = (model, config, impl, backend)``.

    The first implementation of each (model, config) is tfzoo's: the others'
    "vs tfzoo" speed is relative to it.
    """
    s = SIZES[dry]
    rows = []
    for precision in PRECISIONS:
        for batch in s["cnn_batches"]:
            config = f"batch {batch}, {precision}"
            for impl in ("tfzoo build_small_cnn", "keras.Sequential"):
                rows.append((("small CNN", config, impl, "jax"), "samples/s", True))
    config = f"batch {s['rnn_batch']}, LSTM {s['rnn_units']}, {s['rnn_seq']} chars"
    for impl, backend in (
        ("tfzoo build_char_rnn", "jax"),
        ("keras LSTM", "jax"),
        ("keras LSTM", "torch"),
        ("tfzoo build_char_rnn", "torch"),
    ):
        rows.append((("char-RNN", config, impl, backend), "chars/s", True))
    for batch, size in s["mrcnn_configs"]:
        for what, unit, higher in (("train", "s/step", False), ("infer", "images/s", True)):
            config = f"{what}, batch {batch}, {size} px"
            for impl, backend in (("tfzoo build_mask_rcnn", "jax"), ("torchvision", "torch")):
                rows.append((("Mask R-CNN", config, impl, backend), unit, higher))
    for backend in ("jax", "torch"):
        config = f"1-row predict, {backend}"
        for impl in ("tfzoo PerceptronClassifier", "keras model.predict"):
            rows.append((("estimator", config, impl, backend), "ms", False))
    return _unique(rows)


def _unique(rows):
    seen, out = set(), []
    for row in rows:
        if row[0] not in seen:
            seen.add(row[0])
            out.append(row)
    return out


def key_str(key):
    return " | ".join(key)


# -- the children ---------------------------------------------------------------


class Child:
    """Runs one backend's rows, writing the results after each one (a crash keeps them)."""

    def __init__(self, backend, dry, deadline, out):
        self.backend, self.dry, self.deadline, self.out = backend, dry, deadline, out
        self.sizes = SIZES[dry]
        self.results = {"backend": backend, "rows": {}, "info": {}}

    def save(self):
        with open(self.out + ".tmp", "w") as f:
            json.dump(self.results, f)
        os.replace(self.out + ".tmp", self.out)

    def put(self, key, value=None, note=None, mfu=None, took=None):
        self.results["rows"][key_str(key)] = dict(value=value, note=note, mfu=mfu, took=took)
        self.save()

    def row(self, keys, fn):
        """Run ``fn() -> value or tuple of values`` for ``keys`` (one or several rows)."""
        if time.time() > self.deadline:
            for key in keys:
                self.put(key, note="skipped: past the time budget (--budget-s)")
            return
        start, cpu = time.perf_counter(), time.process_time()
        try:
            values = fn()
        except Exception as exc:  # the table shows it, the run goes on
            traceback.print_exc()
            msg = f"error: {type(exc).__name__}: {exc}".splitlines()[0][:100]
            for key in keys:
                self.put(key, note=msg)
            return
        took = (time.perf_counter() - start) / len(keys)
        cpu = time.process_time() - cpu
        print(f"{took * len(keys):7.1f} s ({cpu:5.1f} s CPU)  {key_str(keys[0])}", flush=True)
        if len(keys) == 1:
            values = (values,)
        for key, value in zip(keys, values):
            if not isinstance(value, dict):
                value = dict(value=value)
            self.put(key, took=took, **value)

    def missing(self, keys, note):
        for key in keys:
            self.put(key, note=note)


def _median_time(fn, repeats, sync=lambda out: out):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sync(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class _NoTensorFlow(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import tensorflow`` fails, as on the GPU machine (Keras imports it to serialize
    a layer's config where it can: 5 s and its threads, here)."""

    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec):
        raise ModuleNotFoundError(f"No module named {spec.name!r} (hidden by gpu.py)")

    def exec_module(self, module):  # never reached
        raise ModuleNotFoundError(module.__name__)


def run_child(backend, dry, deadline, out):
    os.environ["KERAS_BACKEND"] = backend
    sys.meta_path.insert(0, _NoTensorFlow())
    sys.path.insert(0, HERE)
    child = Child(backend, dry, deadline, out)
    child.save()
    import keras

    keras.config.disable_interactive_logging()
    import numpy as np

    import tfzoo

    info = child.results["info"]
    info["keras"] = keras.__version__
    info["tfzoo"] = tfzoo.__version__
    if backend == "jax":
        import jax

        dev = jax.devices()[0]
        info["lib"] = f"JAX {jax.__version__}"
        kind = getattr(dev, "device_kind", "")
        info["device"] = dev.platform if kind in ("", dev.platform) else f"{dev.platform} {kind}"
    else:
        import torch

        info["lib"] = f"torch {torch.__version__}"
        info["device"] = (
            f"cuda {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"
        )
    child.save()
    rows = [r for r, _, _ in plan(dry) if r[3] == backend]
    rng = np.random.default_rng(0)
    if backend == "jax":
        _small_cnn(child, rows, rng)
    _char_rnn(child, rows, rng)
    _estimator(child, rows, rng)
    _mask_rcnn(child, rows)
    child.save()


def _peak_jax(dtype, n, repeats):
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (n, n), dtype)
    b = jax.random.normal(jax.random.key(1), (n, n), dtype)
    f = jax.jit(jnp.matmul)
    f(a, b).block_until_ready()
    best = min(
        _median_time(lambda: f(a, b), 1, lambda out: out.block_until_ready())
        for _ in range(repeats)
    )
    return 2 * n**3 / best / 1e9


def _small_cnn(child, rows, rng):
    import keras
    import throughput as tp

    from tfzoo.models import build_small_cnn

    s = child.sizes
    peaks = {}
    for precision in PRECISIONS:
        dtype = "float32" if precision == "float32" else "bfloat16"
        peaks[precision] = _peak_jax(dtype, s["peak_n"], s["peak_repeats"])
    child.results["info"]["peak_gflops"] = peaks
    child.save()
    train_flops = 3 * tp.cnn_forward_flops(build_small_cnn())
    for precision in PRECISIONS:
        for batch in dict.fromkeys(s["cnn_batches"]):
            n = batch * s["cnn_steps"]
            x = rng.random((n, 28, 28, 1), dtype=np.float32)
            y = rng.integers(0, 10, n)
            config = f"batch {batch}, {precision}"
            for impl, make, tfzoo_input in (
                ("tfzoo build_small_cnn", build_small_cnn, True),
                ("keras.Sequential", tp.plain_keras_cnn, False),
            ):

                def run(
                    make=make, tfzoo_input=tfzoo_input, x=x, y=y, batch=batch, precision=precision
                ):
                    keras.mixed_precision.set_global_policy(precision)
                    try:
                        sps = tp.cnn_run(make, x, y, batch, s["cnn_epochs"], True, 1, tfzoo_input)
                    finally:
                        keras.mixed_precision.set_global_policy("float32")
                    mfu = 100 * sps * train_flops / 1e9 / peaks[precision]
                    return dict(value=sps, mfu=mfu)

                child.row([("small CNN", config, impl, "jax")], run)


def _char_rnn(child, rows, rng):
    import throughput as tp

    from tfzoo.models import build_char_rnn

    s = child.sizes
    units, seq, batch = s["rnn_units"], s["rnn_seq"], s["rnn_batch"]
    n = batch * s["rnn_steps"]
    x = rng.integers(0, VOCAB, (n, seq)).astype(np.int32)
    y = rng.integers(0, VOCAB, (n, seq)).astype(np.int32)
    config = f"batch {batch}, LSTM {units}, {seq} chars"
    # Keras's "auto" jit_compile: on for JAX; off on PyTorch (torch.compile
    # recompiles each new model for a minute and more)
    jit = child.backend == "jax"
    for impl, make, tfzoo_input in (
        (
            "tfzoo build_char_rnn",
            lambda: build_char_rnn(VOCAB, embedding_dim=64, units=units, sequence_length=seq),
            True,
        ),
        ("keras LSTM", lambda: tp.plain_keras_char_rnn(VOCAB, units, seq), False),
    ):
        key = ("char-RNN", config, impl, child.backend)
        if key not in rows:
            continue

        def run(make=make, tfzoo_input=tfzoo_input):
            sps = tp.char_rnn_run(make, x, y, batch, s["rnn_epochs"], jit, tfzoo_input)
            return sps * seq

        child.row([key], run)


def _estimator(child, rows, rng):
    import tfzoo

    s = child.sizes
    X = rng.standard_normal((s["est_rows"], 20)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    one = X[:1]
    config = f"1-row predict, {child.backend}"
    keys = [
        ("estimator", config, "tfzoo PerceptronClassifier", child.backend),
        ("estimator", config, "keras model.predict", child.backend),
    ]

    def run():
        est = tfzoo.PerceptronClassifier(hidden_units=32, epochs=2, random_state=0).fit(X, y)
        est.predict(one)  # traces
        tfzoo_s = _median_time(lambda: est.predict(one), s["est_calls"])
        model = est.model_
        model.predict(one, verbose=0)
        keras_s = _median_time(lambda: model.predict(one, verbose=0), s["est_calls"])
        return 1e3 * tfzoo_s, 1e3 * keras_s

    child.row(keys, run)


def _mask_rcnn(child, rows):
    keys = [r for r in rows if r[0] == "Mask R-CNN"]
    if child.backend == "jax":
        _mask_rcnn_jax(child, keys)
    else:
        _mask_rcnn_torchvision(child, keys)


def _shapes(batch, size, seed=0):
    from tfzoo.datasets import make_shapes

    return make_shapes(batch, image_size=size, max_instances=4, seed=seed)


def _tiny_backbone(size):
    """A dry run's backbone: two named taps (strides 4 and 8), tapped as ResNet-50's are."""
    import keras

    x = inputs = keras.Input((size, size, 3))
    for i in range(3):
        x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
        if i:
            x = keras.layers.Identity(name=f"tap{i}")(x)
    return keras.Model(inputs, x), ["tap1", "tap2"]


def _mask_rcnn_jax(child, keys):
    import jax
    import keras

    from tfzoo.models import build_mask_rcnn

    s = child.sizes
    heads = MRCNN_HEADS[child.dry]
    models = {}

    def model_for(size):
        if size not in models:
            keras.utils.set_random_seed(0)
            if child.dry:
                backbone, taps = _tiny_backbone(size)
            else:
                backbone = keras.applications.ResNet50(
                    include_top=False, weights=None, input_shape=(size, size, 3)
                )
                taps = RESNET50_TAPS
            model = build_mask_rcnn(
                NUM_CLASSES, (size, size, 3), backbone=backbone, backbone_layers=taps, **heads
            )
            model.compile(keras.optimizers.Adam(1e-3), jit_compile=True)

            def infer(trainable, non_trainable, images):
                return model.stateless_call(trainable, non_trainable, images, training=False)[0]

            models[size] = (model, jax.jit(infer))
        return models[size]

    for batch, size in dict.fromkeys(s["mrcnn_configs"]):
        data = _shapes(batch, size)
        images = jax.device_put(data["images"])
        targets = {k: jax.device_put(data[k]) for k in ("boxes", "classes", "masks")}
        train_key = (
            "Mask R-CNN",
            f"train, batch {batch}, {size} px",
            "tfzoo build_mask_rcnn",
            "jax",
        )
        infer_key = (
            "Mask R-CNN",
            f"infer, batch {batch}, {size} px",
            "tfzoo build_mask_rcnn",
            "jax",
        )

        def train(size=size, images=images, targets=targets):
            model, _ = model_for(size)
            for _ in range(s["mrcnn_warmup"]):
                model.train_on_batch(images, targets)  # returns floats: waits
            return _median_time(lambda: model.train_on_batch(images, targets), s["mrcnn_steps"])

        def infer(size=size, images=images, batch=batch):
            model, fn = model_for(size)
            tv = [v.value for v in model.trainable_variables]
            ntv = [v.value for v in model.non_trainable_variables]
            jax.block_until_ready(fn(tv, ntv, images))
            sec = _median_time(lambda: fn(tv, ntv, images), s["mrcnn_infer"], jax.block_until_ready)
            return batch / sec

        if train_key in keys:
            child.row([train_key], train)
        if infer_key in keys:
            child.row([infer_key], infer)


def torchvision_kwargs(size, heads):
    """torchvision's ``maskrcnn_resnet50_fpn`` arguments for tfzoo's sizes."""
    return dict(
        num_classes=NUM_CLASSES + 1,
        min_size=size,
        max_size=size,
        rpn_pre_nms_top_n_train=heads["pre_nms_top_k"],
        rpn_pre_nms_top_n_test=heads["pre_nms_top_k"],
        rpn_post_nms_top_n_train=heads["post_nms_top_k"],
        rpn_post_nms_top_n_test=heads["inference_post_nms_top_k"],
        rpn_batch_size_per_image=heads["rpn_samples"],
        box_batch_size_per_image=heads["num_rois"],
        box_positive_fraction=heads["foreground_fraction"],
        box_detections_per_img=heads["max_detections"],
        box_score_thresh=heads["score_threshold"],
        box_nms_thresh=heads["detection_iou"],
    )


def _mask_rcnn_torchvision(child, keys):
    try:
        import torchvision
        from torchvision.models.detection import maskrcnn_resnet50_fpn
    except Exception as exc:  # missing, or a build that does not fit this torch
        note = "torchvision not installed"
        if not isinstance(exc, ModuleNotFoundError):
            note = f"torchvision unusable here: {type(exc).__name__}: {exc}".splitlines()[0][:100]
        child.missing(keys, note)
        return
    import torch

    child.results["info"]["torchvision"] = torchvision.__version__
    s = child.sizes
    heads = MRCNN_HEADS[child.dry]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    models = {}

    def model_for(size):
        if size not in models:
            torch.manual_seed(0)
            model = maskrcnn_resnet50_fpn(
                weights=None, weights_backbone=None, **torchvision_kwargs(size, heads)
            ).to(device)
            models[size] = (model, torch.optim.Adam(model.parameters(), lr=1e-3))
        return models[size]

    for batch, size in dict.fromkeys(s["mrcnn_configs"]):
        data = _shapes(batch, size)
        images = [
            torch.from_numpy(im).permute(2, 0, 1).contiguous().to(device) for im in data["images"]
        ]
        targets = []
        for boxes, classes, masks in zip(data["boxes"], data["classes"], data["masks"]):
            keep = classes > 0
            yx = torch.from_numpy(boxes[keep]).float()
            targets.append(
                dict(
                    boxes=yx[:, [1, 0, 3, 2]].to(device),  # [y1, x1, y2, x2] -> [x1, y1, x2, y2]
                    labels=torch.from_numpy(classes[keep]).long().to(device),
                    masks=torch.from_numpy(masks[keep] > 0.5).to(torch.uint8).to(device),
                )
            )
        train_key = ("Mask R-CNN", f"train, batch {batch}, {size} px", "torchvision", "torch")
        infer_key = ("Mask R-CNN", f"infer, batch {batch}, {size} px", "torchvision", "torch")

        def step(size=size, images=images, targets=targets):
            model, opt = model_for(size)
            model.train()
            losses = model(images, targets)
            loss = sum(losses.values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            sync()

        def train(step=step):
            for _ in range(s["mrcnn_warmup"]):
                step()
            return _median_time(step, s["mrcnn_steps"])

        def infer(size=size, images=images, batch=batch):
            model, _ = model_for(size)
            model.eval()

            def call():
                with torch.no_grad():
                    model(images)
                sync()

            call()
            return batch / _median_time(call, s["mrcnn_infer"])

        if train_key in keys:
            child.row([train_key], train)
        if infer_key in keys:
            child.row([infer_key], infer)


# -- the driver -------------------------------------------------------------------


def _child_env(dry):
    env = {**os.environ}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if dry:  # two children side by side on a small CPU: one thread each, quick compiles
        env.setdefault("OMP_NUM_THREADS", "1")
        env.setdefault(
            "XLA_FLAGS",
            "--xla_cpu_multi_thread_eigen=false --xla_backend_optimization_level=0 "
            "--xla_llvm_disable_expensive_passes=true",
        )
    return env


def _launch(backend, dry, deadline, out, log):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", backend, "--out", out]
    cmd += ["--deadline", repr(deadline)] + (["--dry-run"] if dry else [])
    return subprocess.Popen(cmd, env=_child_env(dry), stdout=log, stderr=subprocess.STDOUT)


def _wait(proc, deadline, grace):
    try:
        return proc.wait(timeout=max(1.0, deadline - time.time()) + grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return "killed at the time limit"


def run_driver(dry, budget, json_path=None, verbose=False):
    start = time.time()
    seen, status = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        outs = {b: os.path.join(tmp, f"{b}.json") for b in ("torch", "jax")}
        logs = {b: open(os.path.join(tmp, f"{b}.log"), "w+") for b in outs}
        grace = 30 if dry else 120
        try:
            if dry:  # side by side: the sizes are tiny, the timings mean nothing
                procs = {b: _launch(b, dry, start + budget, outs[b], logs[b]) for b in outs}
                for b, proc in procs.items():
                    status[b] = _wait(proc, start + budget, grace)
            else:  # one after the other: they would share the GPU
                torch_deadline = start + 0.35 * budget
                proc = _launch("torch", dry, torch_deadline, outs["torch"], logs["torch"])
                status["torch"] = _wait(proc, torch_deadline, grace)
                proc = _launch("jax", dry, start + budget, outs["jax"], logs["jax"])
                status["jax"] = _wait(proc, start + budget, grace)
        finally:
            for b, log in logs.items():
                log.seek(0)
                text = log.read()
                log.close()
                if verbose or status.get(b) != 0:
                    print(f"----- {b} child's output (exit status {status.get(b)}) -----")
                    print(text[-6000:])
        for b, path in outs.items():
            if os.path.exists(path):
                with open(path) as f:
                    seen[b] = json.load(f)
    table = make_table(seen, status, dry, time.time() - start)
    print(table)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(dict(children=seen, status=status), f, indent=1)
    return seen, table


def _fmt(value, unit):
    if value is None:
        return "-"
    if unit == "s/step":
        return f"{value:.4f}"
    if unit == "ms":
        return f"{value:.2f}"
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def make_table(seen, status, dry, elapsed):
    lines = []
    title = "tfzoo on one GPU: JAX and PyTorch backends, one run"
    if dry:
        title += " (--dry-run: tiny sizes on this machine, the numbers mean nothing)"
    lines.append(title)
    for b in ("jax", "torch"):
        info = seen.get(b, {}).get("info", {})
        bits = [f"{b}: {info.get('lib', '?')} on {info.get('device', '?')}"]
        bits.append(f"Keras {info.get('keras', '?')}, tfzoo {info.get('tfzoo', '?')}")
        if "torchvision" in info:
            bits.append(f"torchvision {info['torchvision']}")
        if "peak_gflops" in info:
            peaks = info["peak_gflops"]
            bits.append(
                "peak matmul (JAX) "
                + ", ".join(
                    f"{p} {v / 1e3:,.1f} TFLOP/s" if v >= 1e3 else f"{p} {v:,.1f} GFLOP/s"
                    for p, v in peaks.items()
                )
            )
        lines.append("; ".join(bits) + f" (child exit status {status.get(b)})")
    header = (
        f"{'model':<11}{'config':<34}{'implementation':<28}{'backend':<8}"
        f"{'value':>12} {'unit':<10}{'MFU':>7}{'vs tfzoo':>10}  note"
    )
    lines += [header, "-" * len(header)]
    ref = {}
    for key, unit, higher in plan(dry):
        model, config, impl, backend = key
        got = seen.get(backend, {}).get("rows", {}).get(key_str(key))
        if got is None:
            got = dict(
                value=None, mfu=None, note=f"not run (the {backend} child: {status.get(backend)})"
            )
        value = got["value"]
        group = (model, config)
        if impl.startswith("tfzoo") and group not in ref:
            ref[group] = value
            versus = ""
        else:
            base = ref.get(group)
            versus = ""
            if value and base:
                speed = value / base if higher else base / value
                versus = f"{speed:.2f}x"
        mfu = "" if got.get("mfu") is None else f"{got['mfu']:.1f}%"
        lines.append(
            f"{model:<11}{config:<34}{impl:<28}{backend:<8}{_fmt(value, unit):>12} {unit:<10}"
            f"{mfu:>7}{versus:>10}  {got.get('note') or ''}".rstrip()
        )
    lines.append(
        "vs tfzoo: the row's speed over tfzoo's in the same model and config (>1: faster than "
        "tfzoo); MFU: model FLOPs per second over the peak matmul of that dtype"
    )
    lines.append(f"total {elapsed:.0f} s")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dry-run", action="store_true", help="tiny sizes: a CPU smoke run")
    p.add_argument("--budget-s", type=float, default=420.0, help="no row starts after this")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--verbose", action="store_true", help="print the children's output")
    p.add_argument("--child", choices=("jax", "torch"), help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        run_child(args.child, args.dry_run, args.deadline or math.inf, args.out)
        return None
    return run_driver(args.dry_run, args.budget_s, args.json, args.verbose)


if __name__ == "__main__":
    main()
