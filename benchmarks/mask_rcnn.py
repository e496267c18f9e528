"""Mask R-CNN speed: training step time and inference images/s, 128 px, default backbone.

    python benchmarks/mask_rcnn.py            # batch 2 and 8, jit_compile off and on
    python benchmarks/mask_rcnn.py --quick    # fewer steps
    python benchmarks/mask_rcnn.py --inference [--one-core] [--weights F [--train-steps N]]
        # predict and detect against the recipe's evaluation path before the
        # COCO/any-size work (tfzoo at --baseline-rev, default 596709c), side by side;
        # untrained (seed 0), or on the weights F (made first by training N steps of
        # 8 shapes images at 128 px when F does not exist)
    python benchmarks/mask_rcnn.py --resnet50-512 [--backend jax|tensorflow|all]
        # the 512 px ResNet50 configuration: build, one XLA training step compiled,
        # step time and peak memory at batch 2

Each training configuration trains on fixed batches of generated shapes (so data
generation is not timed), after warm-up steps that absorb tracing and XLA
compilation; inference is ``model.predict`` on 64 images after one warm-up
call. Prints one table; the device is whatever TensorFlow sees first.

``--inference`` runs one child process per path on the same images (``make_shapes``
at 128 px, written once to a NumPy file): the baseline is the tree of tfzoo at
``--baseline-rev`` (``git archive``), whose recipe scored held-out images with
``model.predict(images, batch_size=8)`` on the model compiled with
``jit_compile=True``; today's rows are ``predict`` the same way and ``detect`` on a
list of the same images (results pasted at the original size). Each child warms up
(tracing, XLA) on one full pass, then times ``--repeats`` passes and reports the
median; a child also counts how many times its prediction function was traced
during the timed passes. ``--one-core`` pins every child to CPU 0 (``taskset``),
as the outside side-by-side run did. An untrained model fills all its detection slots
(every class scores about 1/4, above the model's own 0.05 threshold), a trained one only
those of objects it finds; the ``found`` column says how many an image had.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bench(batch, jit, data, steps, warmup):
    import keras
    import tensorflow as tf

    from tfzoo.models import build_mask_rcnn

    keras.utils.set_random_seed(0)
    model = build_mask_rcnn(3, (128, 128, 3), seed=0)
    model.compile(keras.optimizers.Adam(1e-3), jit_compile=jit)
    targets = {k: data[k] for k in ("boxes", "classes", "masks")}
    ds = (
        tf.data.Dataset.from_tensor_slices((data["images"], targets))
        .batch(batch, drop_remainder=True)
        .repeat()
        .prefetch(4)
    )
    model.fit(ds, steps_per_epoch=warmup, epochs=1, verbose=0, shuffle=False)
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    step = (time.perf_counter() - start) / steps
    images = data["images"][:64]
    model.predict(images[:batch], batch_size=batch, verbose=0)
    start = time.perf_counter()
    model.predict(images, batch_size=batch, verbose=0)
    per_second = len(images) / (time.perf_counter() - start)
    return step, per_second, model.count_params()


# ------------------------------------------------------------------ inference
INFER_CHILD = r"""
import json, os, statistics, sys, time
import numpy as np
import keras
import tfzoo
from tfzoo.models import build_mask_rcnn

path, images_file, repeats, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
weights = sys.argv[5]  # "" for the untrained model
images = np.load(images_file)
keras.utils.set_random_seed(0)
model = build_mask_rcnn(3, images.shape[1:], seed=0)
if weights:
    model.load_weights(weights)
model.compile(keras.optimizers.Adam(1e-3), jit_compile=True)
if path == "detect":
    run = lambda: model.detect(list(images), score_threshold=0.5, batch_size=batch)
else:
    run = lambda: model.predict(images, batch_size=batch, verbose=0)
def traces():
    owner = model
    if path == "detect":
        from tfzoo.models.mask_rcnn_detect import _runner
        owner = _runner(model)
    count = getattr(owner.predict_function, "experimental_get_tracing_count", None)
    return (id(owner.predict_function), count() if count else None)
start = time.perf_counter()
run()  # traces and compiles
warm = time.perf_counter() - start
before = traces()
times = []
for _ in range(repeats):
    start = time.perf_counter()
    got = run()
    times.append(time.perf_counter() - start)
after = traces()
if path == "detect":
    found = float(np.mean([len(d["scores"]) for d in got]))
else:
    found = float(np.mean(got["num_detections"]))
print("RESULT " + json.dumps({
    "tfzoo": os.path.dirname(tfzoo.__file__),
    "params": model.count_params(),
    "warm_s": warm,
    "median_s": statistics.median(times),
    "times": times,
    "images": len(images),
    "retraced": before != after,
    "first_traces": before[1],
    "found": found,
}))
"""

TRAIN_CHILD = r"""
import sys
import keras
from tfzoo.datasets import make_shapes
from tfzoo.models import build_mask_rcnn

steps, out = int(sys.argv[1]), sys.argv[2]
keras.utils.set_random_seed(0)
model = build_mask_rcnn(3, (128, 128, 3), seed=0)
model.compile(keras.optimizers.Adam(1e-3), jit_compile=True)
data = make_shapes(8 * steps, image_size=128, max_instances=4, seed=0)
targets = {k: data[k] for k in ("boxes", "classes", "masks")}
history = model.fit(data["images"], targets, batch_size=8, epochs=1, verbose=0, shuffle=False)
model.save_weights(out)
print("RESULT " + __import__("json").dumps({"loss": history.history["loss"][-1]}))
"""


def _baseline_tree(rev, into):
    """``tfzoo/`` of ``rev`` extracted under ``into`` (for PYTHONPATH)."""
    got = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "tfzoo"], capture_output=True)
    if got.returncode:
        sys.exit(
            f"--baseline-rev {rev}: git archive failed (a clone with that commit is needed): "
            f"{got.stderr.decode(errors='replace').strip()}"
        )
    archive = got.stdout
    Path(into).mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _infer_child(path, images_file, repeats, batch, pythonpath, one_core, weights=""):
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "KERAS_BACKEND": "tensorflow"}
    cmd = [sys.executable, "-c", INFER_CHILD, path, str(images_file), str(repeats), str(batch)]
    cmd.append(str(weights))
    if one_core:
        cmd = ["taskset", "-c", "0", *cmd]
    return _child_result(cmd, env, path)


def _child_result(cmd, env, what):
    """Run a child benchmark; the JSON of its last ``RESULT`` line (exit on failure)."""
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode or not lines:
        sys.exit(f"the {what} child failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def _write_table(path, lines):
    if path:
        command = f"# python benchmarks/mask_rcnn.py {' '.join(sys.argv[1:])}"
        Path(path).write_text("\n".join([command, *lines]) + "\n")


def inference(args):
    from tfzoo.datasets import make_shapes

    work = Path(tempfile.mkdtemp(prefix="mask_rcnn_infer_"))
    # the recipe's held-out images (seed 2026); 500 is not a multiple of the batch
    images = make_shapes(args.images, image_size=128, max_instances=4, seed=2026)["images"]
    import numpy as np

    np.save(work / "images.npy", images.astype(np.float32))
    base = _baseline_tree(args.baseline_rev, work / "baseline")
    weights, trained = "", "untrained (seed 0)"
    if args.weights:
        weights = Path(args.weights).resolve()
        if not weights.exists():
            if not args.train_steps:
                sys.exit(f"--weights {weights}: no such file (--train-steps N makes it)")
            env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "tensorflow"}
            cmd = [sys.executable, "-c", TRAIN_CHILD, str(args.train_steps), str(weights)]
            r = _child_result(cmd, env, "training")
            print(f"trained {args.train_steps} steps of 8 images, last loss {r['loss']:.3f}")
        trained = f"trained, weights {weights.name}"
    rows = []
    for label, path, tree in (
        (f"predict, tfzoo at {args.baseline_rev} (the recipe's path then)", "predict", base),
        ("predict, today", "predict", ROOT),
        ("detect, today (list in, original size out)", "detect", ROOT),
    ):
        r = _infer_child(path, work / "images.npy", args.repeats, 8, tree, args.one_core, weights)
        if Path(r["tfzoo"]).resolve() != (Path(tree) / "tfzoo").resolve():
            sys.exit(f"the {label!r} child imported tfzoo from {r['tfzoo']}, not {tree}")
        rows.append((label, r))
    base = rows[0][1]
    base_first, base_warm = base["images"] / base["warm_s"], base["images"] / base["median_s"]
    cores = "1 core (taskset -c 0)" if args.one_core else f"{os.cpu_count()} cores"
    lines = [
        f"Mask R-CNN inference, 128 px, default model ({base['params']:,} parameters), "
        f"TensorFlow, {cores}, one call on {args.images} images, batch 8, model {trained}",
        f"{'path':<50} {'1st call img/s':>14} {'vs then':>8} {'warm img/s':>11} "
        f"{'vs then':>8} {'traces':>7} {'retraced':>9} {'found':>6}",
    ]
    for label, r in rows:
        first, warm = r["images"] / r["warm_s"], r["images"] / r["median_s"]
        retraced = "yes" if r["retraced"] else "no"
        lines.append(
            f"{label:<50} {first:14.1f} {first / base_first:7.2f}x {warm:11.1f} "
            f"{warm / base_warm:7.2f}x {r['first_traces']!s:>7} {retraced:>9} "
            f"{r['found']:6.2f}"
        )
    lines += [
        "1st call: a fresh model's first call, tracing and XLA compilation included, as the "
        "recipe timed its evaluation;",
        f"warm: the median of {args.repeats} later calls; traces: times the prediction function "
        "was traced in the 1st call; retraced: a later call traced it again (none should);",
        "found: detections an image (predict: the padded slots filled, of the model's 16; "
        "detect: those scoring 0.5 or more)",
    ]
    print("\n".join(lines))
    _write_table(args.write, lines)
    return rows


# ------------------------------------------------------------ 512 px ResNet50
R50_CHILD = r"""
import json, resource, sys, time
import keras
from tfzoo.datasets import make_shapes
from tfzoo.models import build_mask_rcnn

steps = int(sys.argv[1])
def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
model = build_mask_rcnn(3, (512, 512, 3), backbone="resnet50", backbone_weights=None,
                        frozen_stages=2, freeze_batch_norm=True, seed=0)
build_s = time.perf_counter() - start
model.compile(keras.optimizers.SGD(1e-3, momentum=0.9), jit_compile=True)
data = make_shapes(2 * (steps + 1), image_size=512, max_instances=4, seed=0)
targets = {k: data[k] for k in ("boxes", "classes", "masks")}
before = rss_mib()
start = time.perf_counter()
first = model.train_on_batch(data["images"][:2], {k: v[:2] for k, v in targets.items()},
                             return_dict=True)
first_s = time.perf_counter() - start
times, losses = [], [float(first["loss"])]
for i in range(1, steps + 1):
    sl = slice(2 * i, 2 * i + 2)
    start = time.perf_counter()
    logs = model.train_on_batch(data["images"][sl], {k: v[sl] for k, v in targets.items()},
                                return_dict=True)
    losses.append(float(logs["loss"]))
    times.append(time.perf_counter() - start)
print("RESULT " + json.dumps({
    "params": model.count_params(), "build_s": build_s, "first_step_s": first_s,
    "step_s": sorted(times)[len(times) // 2], "losses": losses,
    "peak_rss_mib": rss_mib(), "rss_before_step_mib": before,
}))
"""


def resnet50_512(args):
    backends = ("tensorflow", "jax") if args.backend == "all" else (args.backend,)
    lines = [
        "Mask R-CNN, 512 px, ResNet50 backbone (no pretrained weights, 2 stages frozen, "
        f"frozen batch norm), batch 2, jit_compile=True; {os.cpu_count()} CPU cores",
        f"{'backend':<11} {'params':>11} {'build s':>8} {'1st step s':>11} {'step s':>7} "
        f"{'peak RSS MiB':>13} {'before MiB':>11}  losses",
    ]
    print("\n".join(lines), flush=True)
    for name in backends:
        env = {**os.environ, "KERAS_BACKEND": name, "PYTHONPATH": str(ROOT)}
        r = _child_result([sys.executable, "-c", R50_CHILD, str(args.steps)], env, name)
        losses = " ".join(f"{v:.3f}" for v in r["losses"])
        lines.append(
            f"{name:<11} {r['params']:>11,} {r['build_s']:8.1f} {r['first_step_s']:11.1f} "
            f"{r['step_s']:7.2f} {r['peak_rss_mib']:13,.0f} {r['rss_before_step_mib']:11,.0f}  "
            f"{losses}"
        )
        print(lines[-1], flush=True)
    lines.append(
        "peak RSS: the process's maximum resident memory (ru_maxrss, CPU memory: the model, "
        "XLA's compilation and the step's buffers); before: the same maximum just before the "
        "first step (after build, compile and data)"
    )
    print(lines[-1])
    _write_table(args.write, lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--inference", action="store_true", help="predict/detect vs the old path")
    p.add_argument("--baseline-rev", default="596709c", help="tfzoo's revision for the old path")
    p.add_argument(
        "--images", type=int, default=500, help="images per call (the recipe's 500 held out)"
    )
    p.add_argument("--repeats", type=int, default=3, help="timed inference passes")
    p.add_argument("--one-core", action="store_true", help="pin the children to CPU 0")
    p.add_argument(
        "--weights", default=None, help="inference on these weights (.weights.h5), not untrained"
    )
    p.add_argument(
        "--train-steps", type=int, default=0, help="train this many steps to make --weights first"
    )
    p.add_argument("--resnet50-512", action="store_true", help="the 512 px ResNet50 step")
    p.add_argument("--backend", default="all", choices=("all", "tensorflow", "jax"))
    p.add_argument("--steps", type=int, default=3, help="timed 512 px steps after the first")
    p.add_argument("--write", default=None, help="also write the table to this file")
    args = p.parse_args(argv)
    if args.inference:
        return inference(args)
    if args.resnet50_512:
        return resnet50_512(args)
    import tensorflow as tf

    from tfzoo.datasets import make_shapes

    steps, warmup = (6, 2) if args.quick else (24, 4)
    data = make_shapes(128, image_size=128, max_instances=4, seed=0)
    device = tf.config.list_logical_devices()[-1].device_type
    rows = []
    for batch in (2, 8):
        for jit in (False, True):
            step, ips, params = bench(batch, jit, data, steps, warmup)
            rows.append((batch, jit, step, batch / step, ips))
    print(f"\nMask R-CNN, 128 px, default backbone ({params:,} parameters), device {device}")
    print(f"{'batch':>5} {'jit':>5} {'s/step':>8} {'train img/s':>12} {'infer img/s':>12}")
    for batch, jit, step, tps, ips in rows:
        print(f"{batch:>5} {jit!s:>5} {step:>8.3f} {tps:>12.1f} {ips:>12.1f}")
    return rows


if __name__ == "__main__":
    main()
