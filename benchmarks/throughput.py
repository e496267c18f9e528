"""Training throughput and model FLOP utilisation (MFU) of the small CNN and the char-RNN.

Measured in one run, on random data of the real shapes, on one Keras backend
(TensorFlow, JAX or PyTorch) or on each of them in turn:

* the machine's peak float32 matrix-multiply rate through that backend (best
  of several 2048x2048 ``keras.ops.matmul`` runs, compiled as the backend
  compiles a training step: ``tf.function`` on TensorFlow, ``jax.jit`` on JAX,
  eager ``torch.matmul`` on PyTorch; each run waits for its result), the
  denominator of that backend's MFU;
* model FLOPs per training sample, counted layer by layer from the shapes
  (a multiply-add is 2 FLOPs; convolution ``2·Hout·Wout·k·k·Cin·Cout``, dense
  ``2·in·out``, LSTM ``2·4·units·(in + units)`` per step; training = 3x the
  forward pass: the backward pass costs two forward passes), cross-checked on
  TensorFlow against its own graph FLOP count of the forward pass;
* training samples/s (epochs after the first, which traces) for a plain
  Keras script fed NumPy arrays and for tfzoo (builder + its input pipeline:
  ``tf.data`` on TensorFlow, a shuffling ``keras.utils.PyDataset`` elsewhere,
  and the estimator with its defaults), with ``jit_compile`` off and on
  (``tf.function`` / XLA on TensorFlow, ``torch.compile`` on PyTorch) and
  ``steps_per_execution`` 1 and 8, except where a backend cannot (``RUNS``
  below; the run prints why): the char-RNN on JAX only jitted, PyTorch at
  ``steps_per_execution`` 1;
* the char-RNN's generation speed (``CharSampler``, stateful and re-fed window).

    python benchmarks/throughput.py                   # minutes on 2 CPU cores (torch the most)
    python benchmarks/throughput.py --onednn off      # TensorFlow's CPU default here
    python benchmarks/throughput.py --backend jax     # on one Keras backend
    python benchmarks/throughput.py --backend all     # each backend in turn, one table
    python benchmarks/throughput.py --quick           # seconds, smoke test
    python benchmarks/throughput.py --backend all --quick

``--onednn`` (default ``on``) sets ``TF_ENABLE_ONEDNN_OPTS`` before TensorFlow
is imported: TensorFlow leaves its oneDNN kernels off on CPUs without
AVX-512, where they train the small CNN 2-3x faster and the LSTM slower. It
only acts on the TensorFlow backend.

With ``--backend all`` the script runs itself once per backend (a child
process each, ``--json``: Keras's backend is fixed when it is imported) and
ends with one table: samples/s and MFU of each run on each backend, every MFU
against that backend's own peak, measured in the same run. ``--quick`` keeps
one ``jit_compile`` per backend (what Keras's ``"auto"`` picks on a CPU: on
for JAX, off elsewhere), ``steps_per_execution`` 1 (the estimator keeps its
default) and the char-RNN at batch 32.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _backends import BACKENDS, add_backend_arguments, run_each_backend, select_backend  # noqa: E402

select_backend()  # before keras is imported

# ``--onednn`` must act before TensorFlow is imported: parsed here, and a
# parent of main's parser so that it shows in --help.
ONEDNN_ARGS = argparse.ArgumentParser(add_help=False)
ONEDNN_ARGS.add_argument(
    "--onednn",
    choices=("on", "off", "tf"),
    default="on",
    help="TF_ENABLE_ONEDNN_OPTS for this run, TensorFlow backend only (tf: TensorFlow's "
    "own default, off on CPUs without AVX-512)",
)
_ONEDNN = ONEDNN_ARGS.parse_known_args()[0].onednn
if _ONEDNN != "tf":
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if _ONEDNN == "on" else "0"

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tfzoo  # noqa: E402
from tfzoo._backend import onednn_enabled  # noqa: E402
from tfzoo._backend import tensorflow as tf  # noqa: E402  (imported at first use)
from tfzoo.estimators._runtime import ArrayBatches  # noqa: E402
from tfzoo.models import build_char_rnn, build_small_cnn  # noqa: E402

BACKEND = keras.backend.backend()

#: What each backend is measured with: ``jit_compile`` values per model,
#: ``steps_per_execution`` values, the one ``jit_compile`` of ``--quick`` (what
#: Keras's ``"auto"`` picks on a CPU), and what is left out and why.
RUNS = {
    "tensorflow": dict(
        cnn_jit=(False, True), rnn_jit=(False, True), spe=(1, 8), quick_jit=False, note=None
    ),
    "jax": dict(
        cnn_jit=(False, True),
        rnn_jit=(True,),
        spe=(1, 8),
        quick_jit=True,
        note="JAX: the char-RNN at jit_compile=True only: False runs its LSTM loop op by op "
        "(25-70 samples/s with 64 units here, 30-60x slower than jitted)",
    ),
    "torch": dict(
        cnn_jit=(False, True),
        rnn_jit=(False, True),
        spe=(1,),
        quick_jit=False,
        note="torch: steps_per_execution 1 only (Keras's torch trainer refuses more); "
        "jit_compile=True is torch.compile, which works on this CPU but compiles each new "
        "model for 30 s (CNN) to 70 s (char-RNN, its 100 steps unrolled) on 2 cores",
    ),
}
QUICK_NOTE = (
    "tiny sizes; each backend at the jit_compile Keras picks on a CPU (JAX on, others off), "
    "steps_per_execution 1 (the estimator: its default), the char-RNN at batch 32"
)


def _input_path():
    """The input pipeline of tfzoo's rows on this backend."""
    return "tf.data" if BACKEND == "tensorflow" else "PyDataset"


def _compiled(fn):
    """``fn`` compiled as this backend compiles a training step (eager on PyTorch)."""
    if BACKEND == "tensorflow":
        return tf.function(fn)
    if BACKEND == "jax":
        import jax

        return jax.jit(fn)
    return fn


def _wait(x):
    """Block until ``x`` is computed."""
    if BACKEND == "jax":
        x.block_until_ready()
    else:
        keras.ops.convert_to_numpy(x)


def peak_matmul_gflops(n=2048, repeats=10):
    a = keras.random.normal((n, n), seed=0)
    b = keras.random.normal((n, n), seed=1)
    f = _compiled(keras.ops.matmul)
    _wait(f(a, b))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        _wait(f(a, b))
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def rnn_forward_flops(model, steps):
    """Forward FLOPs per sample of a char-RNN over ``steps`` characters."""
    total = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.Dense):
            n_in, n_out = layer.kernel.shape
            per = 2 * n_in * n_out
            total += per * (steps if "logits" in layer.name else 1)
        elif isinstance(layer, keras.layers.LSTM):
            n_in = layer.cell.kernel.shape[0]
            units = layer.units
            total += 2 * 4 * units * (n_in + units) * steps
    return total


def _conv_output_shapes(model):
    # The Conv2D layers inside ConvBlocks are not nodes of the functional
    # model: their shapes come from their blocks' symbolic inputs.
    return {
        layer.conv: layer.conv.compute_output_shape(layer.input.shape)
        for layer in model.layers
        if isinstance(layer, tfzoo.layers.ConvBlock)
    }


def cnn_forward_flops(model):
    total = 0
    shapes = _conv_output_shapes(model)
    for conv, (_, h, w, c_out) in shapes.items():
        k1, k2 = conv.kernel_size
        total += 2 * h * w * k1 * k2 * conv.kernel.shape[2] * c_out
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            total += 2 * int(np.prod(layer.kernel.shape))
    return total


def tf_profiler_forward_flops(model, sample_shape):
    """TensorFlow's own count of the forward graph's float operations (per sample)."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec((1,) + tuple(sample_shape), tf.float32))
    frozen = convert_variables_to_constants_v2(concrete)
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    info = tf.compat.v1.profiler.profile(graph=frozen.graph, options=opts)
    return int(info.total_float_ops)


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def _samples_per_s(timer, n):
    steady = timer.times[1:] or timer.times
    return n / float(np.median(steady))


def _fit(model, x, y, batch, epochs, tfzoo_input):
    """Samples/s of ``model.fit``: NumPy arrays, or tfzoo's input pipeline on this backend."""
    timer = EpochTimer()
    if not tfzoo_input:
        model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[timer])
    else:
        if BACKEND == "tensorflow":
            data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x)).batch(batch)
            data = data.prefetch(-1)
        else:
            data = ArrayBatches(x, y, None, batch, shuffle=True, seed=0)
        model.fit(data, epochs=epochs, verbose=0, callbacks=[timer], shuffle=False)
    return _samples_per_s(timer, len(x))


def plain_keras_cnn():
    """The seed's CNN written directly in Keras: the baseline."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(16, 5, padding="same", activation="relu"),
            keras.layers.Conv2D(8, 5, strides=2, padding="same", activation="relu"),
            keras.layers.Conv2D(12, 4, strides=2, padding="same", activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(200, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def cnn_run(make, x, y, batch, epochs, jit, spe, tfzoo_input):
    model = make()
    model.compile(
        "adam", "sparse_categorical_crossentropy", jit_compile=jit, steps_per_execution=spe
    )
    return _fit(model, x, y, batch, epochs, tfzoo_input)


def tfzoo_estimator_cnn(x, y, batch, epochs):
    """Samples/s of ``CNNClassifier`` with its defaults, and the ``jit_compile`` they resolve to."""
    timer = EpochTimer()
    est = tfzoo.CNNClassifier(epochs=epochs, batch_size=batch, callbacks=[timer]).fit(x, y)
    model = est.model_
    return _samples_per_s(timer, len(x)), bool(model.jit_compile), model.steps_per_execution


def plain_keras_char_rnn(vocab, units, seq):
    return keras.Sequential(
        [
            keras.Input((seq,), dtype="int32"),
            keras.layers.Embedding(vocab, 64),
            keras.layers.LSTM(units, return_sequences=True),
            keras.layers.Dense(vocab),
        ]
    )


def char_rnn_run(make, x, y, batch, epochs, jit, tfzoo_input):
    model = make()
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=jit
    )
    return _fit(model, x, y, batch, epochs, tfzoo_input)


def sampling_speed(units, vocab, length):
    model = build_char_rnn(vocab, units=units)
    sampler = tfzoo.models.CharSampler(model)
    prompt = list(range(min(vocab, 50)))
    out = {}
    for method in ("stateful", "window"):
        sampler.generate(prompt, 5, method=method)  # trace
        start = time.perf_counter()
        sampler.generate(prompt, length, method=method, window=100, seed=0)
        out[method] = length / (time.perf_counter() - start)
    return out


def _versions():
    if BACKEND == "tensorflow":
        devices = tf.config.list_physical_devices("GPU")
        lib = f"TF {tf.__version__}"
        onednn = "on" if onednn_enabled() else "off"
        extra = f"; oneDNN kernels {onednn} (--onednn {_ONEDNN})"
    elif BACKEND == "jax":
        import jax

        devices = [d for d in jax.devices() if d.platform != "cpu"]
        lib, extra = f"JAX {jax.__version__}", ""
    else:
        import torch

        devices = range(torch.cuda.device_count())
        lib = f"torch {torch.__version__}"
        extra = f"; {torch.get_num_threads()} threads"
    device = "GPU" if devices else "CPU"
    return f"backend {BACKEND}, device {device}; {lib}, Keras {keras.__version__}{extra}"


def _run_label(row):
    spe = "" if row["spe"] is None else f" spe {row['spe']}"
    return f"{row['run']} [{row['input']}] jit {row['jit']}{spe}"


def print_rows(rows, peak, train_flops):
    print(f"{'run':<56}{'batch':>6}{'samples/s':>12}{'GFLOP/s':>10}{'MFU':>8}")
    for row in rows:
        gflops = row["samples_per_s"] * train_flops / 1e9
        print(
            f"{_run_label(row):<56}{row['batch']:>6}{row['samples_per_s']:>12,.0f}"
            f"{gflops:>10.1f}{100 * gflops / peak:>7.1f}%",
            flush=True,
        )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], parents=[ONEDNN_ARGS])
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    p.add_argument("--batch", type=int, default=128, help="the small CNN's batch size")
    add_backend_arguments(p)
    args = p.parse_args(argv)
    if args.backend == "all":
        seen = run_each_backend(__file__, sys.argv[1:] if argv is None else argv, args.json)
        print_backends_table(seen, args.quick)
        return seen
    if BACKEND not in RUNS:
        p.error(f"runs on the {', '.join(BACKENDS)} backends; KERAS_BACKEND is {BACKEND!r}")
    quick = args.quick
    n_cnn = 256 if quick else 8192
    epochs = 2 if quick else 4
    runs = dict(RUNS[BACKEND])
    note = runs["note"]
    if quick:  # one jit_compile, one steps_per_execution and one char-RNN batch
        runs.update(cnn_jit=(runs["quick_jit"],), rnn_jit=(runs["quick_jit"],), spe=(1,))
        rnn_batches = (32,)
    else:
        rnn_batches = (32, 64)
    print(_versions())
    if note:
        print(f"note: {note}")
    if quick:
        print(f"--quick: {QUICK_NOTE}")
    peak = peak_matmul_gflops(1024 if quick else 2048, 3 if quick else 10)
    print(f"peak float32 matmul: {peak:,.0f} GFLOP/s", flush=True)
    results = {"backend": BACKEND, "versions": _versions(), "note": note, "peak_gflops": peak}

    rng = np.random.default_rng(0)
    x = rng.random((n_cnn, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, n_cnn)
    fwd = cnn_forward_flops(build_small_cnn())
    train_flops = 3 * fwd
    if BACKEND == "tensorflow":
        profiled = f"{tf_profiler_forward_flops(build_small_cnn(), (28, 28, 1)) / 1e6:.2f}"
    else:
        profiled = "n/a"
    print(
        f"\nsmall CNN: forward {fwd / 1e6:.2f} MFLOP/sample counted "
        f"(TF profiler: {profiled}); training {train_flops / 1e6:.2f} MFLOP/sample"
    )
    rows = []
    for jit in runs["cnn_jit"]:
        for spe in runs["spe"]:
            for name, make, tfzoo_input in (
                ("plain Keras", plain_keras_cnn, False),
                ("tfzoo builder", build_small_cnn, True),
            ):
                sps = cnn_run(make, x, y, args.batch, epochs, jit, spe, tfzoo_input)
                path = _input_path() if tfzoo_input else "NumPy"
                rows.append(dict(run=name, input=path, batch=args.batch, jit=jit, spe=spe))
                rows[-1]["samples_per_s"] = sps
    sps, jit, spe = tfzoo_estimator_cnn(x, y, args.batch, epochs)
    rows.append(
        dict(run="tfzoo CNNClassifier defaults", input=_input_path(), batch=args.batch, jit=jit)
    )
    rows[-1].update(spe=spe, samples_per_s=sps)
    print_rows(rows, peak, train_flops)
    results["small CNN"] = {"train_flops": train_flops, "rows": rows}

    vocab, units, seq = 65, (64 if quick else 384), 100
    n_txt = 64 if quick else 1024
    xt = rng.integers(0, vocab, (n_txt, seq)).astype(np.int32)
    yt = rng.integers(0, vocab, (n_txt, seq)).astype(np.int32)
    fwd_rnn = rnn_forward_flops(build_char_rnn(vocab, units=units, sequence_length=seq), seq)
    print(
        f"\nchar-RNN (Embedding 64, LSTM {units}, seq {seq}): forward "
        f"{fwd_rnn / 1e6:.1f} MFLOP/sample; training {3 * fwd_rnn / 1e6:.1f}"
    )
    rows = []
    # tfzoo's LSTM is FusedLSTM (tfzoo/layers/fused_lstm.py) on TensorFlow:
    # its advantage grows as the batch shrinks (the per-step products get
    # thinner). Elsewhere it runs Keras's own LSTM.
    for batch in rnn_batches:
        for jit in runs["rnn_jit"]:
            for name, make, tfzoo_input in (
                ("plain Keras", lambda: plain_keras_char_rnn(vocab, units, seq), False),
                (
                    "tfzoo builder",
                    lambda: build_char_rnn(
                        vocab, embedding_dim=64, units=units, sequence_length=seq
                    ),
                    True,
                ),
            ):
                sps = char_rnn_run(make, xt, yt, batch, 2 if quick else 3, jit, tfzoo_input)
                path = _input_path() if tfzoo_input else "NumPy"
                rows.append(dict(run=name, input=path, batch=batch, jit=jit, spe=None))
                rows[-1]["samples_per_s"] = sps
    print_rows(rows, peak, 3 * fwd_rnn)
    results["char-RNN"] = {"train_flops": 3 * fwd_rnn, "rows": rows}
    speeds = sampling_speed(units, vocab, 50 if quick else 300)
    print(
        f"\ngeneration: stateful {speeds['stateful']:,.0f} chars/s, re-fed 100-char window "
        f"{speeds['window']:,.0f} chars/s ({speeds['stateful'] / speeds['window']:.1f}x)"
    )
    results["generation"] = speeds
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f)
    return results


def _merged_label(rows):
    """One row label for the same run on several backends (differing settings joined by /)."""

    def joined(values):
        values = [v for v in values if v is not None]
        return "/".join(map(str, values)) if len(set(values)) > 1 else str(values[0])

    first = rows[0]
    inputs = "/".join(dict.fromkeys(r["input"] for r in rows))
    inputs = "" if "defaults" in first["run"] else f" [{inputs}]"  # the estimator's own
    jits = joined(["on" if r["jit"] else "off" for r in rows])
    spe = "" if first["spe"] is None else f" spe {joined([r['spe'] for r in rows])}"
    return f"{first['run']}{inputs} jit {jits}{spe}"


def print_backends_table(seen, quick=False):
    """One table of every backend's results: samples/s and MFU against its own peak."""
    names = [b for b in BACKENDS if b in seen]
    width = 17 + 56  # model, batch, run
    print("\nthe Keras backends, one run (MFU: against each backend's own matmul peak)")
    header = f"{'model':<11}{'batch':>6}  {'run':<54}" + "".join(
        f"{name + ' /s':>14}{'MFU':>7}" for name in names
    )
    print(header)
    print("-" * len(header))
    cells = "".join(f"{seen[b]['peak_gflops']:>14,.0f}{'':>7}" for b in names)
    print(f"{'peak float32 matmul GFLOP/s':<{width}}{cells}")
    for model in ("small CNN", "char-RNN"):
        table = {}  # one line per run: {backend: row}
        for b in names:
            for row in seen[b][model]["rows"]:
                # one line for the estimator's defaults whatever they resolve to,
                # and under --quick (one jit_compile per backend) for each run
                if "defaults" in row["run"]:
                    settings = ()
                else:
                    settings = (row["spe"],) if quick else (row["jit"], row["spe"])
                table.setdefault((row["batch"], row["run"], *settings), {})[b] = row
        for (batch, *_), by_backend in table.items():
            cells = ""
            for b in names:
                row = by_backend.get(b)
                if row is None:
                    cells += f"{'-':>14}{'':>7}"
                    continue
                gflops = row["samples_per_s"] * seen[b][model]["train_flops"] / 1e9
                mfu = 100 * gflops / seen[b]["peak_gflops"]
                cells += f"{row['samples_per_s']:>14,.0f}{mfu:>6.1f}%"
            label = _merged_label(list(by_backend.values()))
            print(f"{model:<11}{batch:>6}  {label:<54}{cells}")
    for method in ("stateful", "window"):
        cells = "".join(f"{seen[b]['generation'][method]:>14,.0f}{'':>7}" for b in names)
        print(f"{'char-RNN generation chars/s, ' + method:<{width}}{cells}")
    print("-: not measured on that backend; tfzoo's input: tf.data on TensorFlow, else PyDataset")
    for b in names:
        if seen[b]["note"]:
            print(f"note: {seen[b]['note']}")
    if quick:
        print(f"--quick: {QUICK_NOTE}")


if __name__ == "__main__":
    main()
