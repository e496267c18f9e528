"""Training throughput and model FLOP utilisation (MFU) of the small CNN and the char-RNN.

Measured in one run, on random data of the real shapes:

* the machine's peak float32 matrix-multiply rate (best of several 2048x2048
  ``tf.matmul`` runs), the denominator of MFU;
* model FLOPs per training sample, counted layer by layer from the shapes
  (a multiply-add is 2 FLOPs; convolution ``2·Hout·Wout·k·k·Cin·Cout``, dense
  ``2·in·out``, LSTM ``2·4·units·(in + units)`` per step; training = 3x the
  forward pass: the backward pass costs two forward passes), cross-checked
  against TensorFlow's own graph FLOP count of the forward pass;
* training samples/s (epochs after the first, which traces) for a plain
  Keras script and for tfzoo (builder + its tf.data pipeline, and the
  estimator with its defaults), with ``jit_compile`` off and on.

    python benchmarks/throughput.py                 # a few minutes on 2 CPU cores
    python benchmarks/throughput.py --onednn off    # TensorFlow's CPU default here
    python benchmarks/throughput.py --quick         # seconds, smoke test

``--onednn`` (default ``on``) sets ``TF_ENABLE_ONEDNN_OPTS`` before TensorFlow
is imported: TensorFlow leaves its oneDNN kernels off on CPUs without
AVX-512, where they train the small CNN 2-3x faster and the LSTM slower.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# ``--onednn`` must act before TensorFlow is imported: parsed here, and a
# parent of main's parser so that it shows in --help.
ONEDNN_ARGS = argparse.ArgumentParser(add_help=False)
ONEDNN_ARGS.add_argument(
    "--onednn",
    choices=("on", "off", "tf"),
    default="on",
    help="TF_ENABLE_ONEDNN_OPTS for this run (tf: TensorFlow's own default, "
    "off on CPUs without AVX-512)",
)
_ONEDNN = ONEDNN_ARGS.parse_known_args()[0].onednn
if _ONEDNN != "tf":
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if _ONEDNN == "on" else "0"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfzoo  # noqa: E402
from tfzoo._backend import onednn_enabled  # noqa: E402
from tfzoo.models import build_char_rnn, build_small_cnn  # noqa: E402


def peak_matmul_gflops(n=2048, repeats=10):
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    f = tf.function(lambda a, b: tf.matmul(a, b))
    f(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        f(a, b).numpy()
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
    # Conv2D layers inside ConvBlocks have no symbolic output: run shapes once.
    shapes = {}
    x = keras.ops.zeros((1,) + tuple(model.input_shape[1:]))
    for layer in model.layers[1:]:
        x = layer(x)
        if isinstance(layer, tfzoo.layers.ConvBlock):
            shapes[layer.conv] = tuple(x.shape)
    return shapes


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


def tf_profiler_forward_flops(model, sample_shape, dtype=tf.float32):
    """TensorFlow's own count of the forward graph's float operations (per sample)."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec((1,) + tuple(sample_shape), dtype))
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


def plain_keras_cnn(x, y, batch, epochs, jit, spe):
    """The seed's CNN written directly in Keras: the baseline."""
    model = keras.Sequential(
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
    model.compile(
        "adam", "sparse_categorical_crossentropy", jit_compile=jit, steps_per_execution=spe
    )
    timer = EpochTimer()
    model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[timer])
    return _samples_per_s(timer, len(x))


def tfzoo_builder_cnn(x, y, batch, epochs, jit, spe):
    model = build_small_cnn()
    model.compile(
        "adam", "sparse_categorical_crossentropy", jit_compile=jit, steps_per_execution=spe
    )
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x)).batch(batch).prefetch(-1)
    timer = EpochTimer()
    model.fit(ds, epochs=epochs, verbose=0, callbacks=[timer], shuffle=False)
    return _samples_per_s(timer, len(x))


def tfzoo_estimator_cnn(x, y, batch, epochs):
    timer = EpochTimer()
    tfzoo.CNNClassifier(epochs=epochs, batch_size=batch, callbacks=[timer]).fit(x, y)
    return _samples_per_s(timer, len(x))


def plain_keras_char_rnn(x, y, batch, epochs, jit, vocab, units):
    model = keras.Sequential(
        [
            keras.Input((x.shape[1],), dtype="int32"),
            keras.layers.Embedding(vocab, 64),
            keras.layers.LSTM(units, return_sequences=True),
            keras.layers.Dense(vocab),
        ]
    )
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=jit
    )
    timer = EpochTimer()
    model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[timer])
    return _samples_per_s(timer, len(x))


def tfzoo_char_rnn(x, y, batch, epochs, jit, vocab, units):
    model = build_char_rnn(vocab, embedding_dim=64, units=units, sequence_length=x.shape[1])
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=jit
    )
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x)).batch(batch).prefetch(-1)
    timer = EpochTimer()
    model.fit(ds, epochs=epochs, verbose=0, callbacks=[timer], shuffle=False)
    return _samples_per_s(timer, len(x))


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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], parents=[ONEDNN_ARGS])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--batch", type=int, default=128)
    args = p.parse_args(argv)
    quick = args.quick
    n_cnn = 512 if quick else 8192
    epochs = 2 if quick else 4
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    print(
        f"device: {device}; TF {tf.__version__}, Keras {keras.__version__}; "
        f"oneDNN kernels {'on' if onednn_enabled() else 'off'} (--onednn {args.onednn})"
    )
    peak = peak_matmul_gflops(1024 if quick else 2048, 3 if quick else 10)
    print(f"peak float32 matmul: {peak:,.0f} GFLOP/s")

    rng = np.random.default_rng(0)
    x = rng.random((n_cnn, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, n_cnn)
    cnn = build_small_cnn()
    fwd = cnn_forward_flops(cnn)
    tf_fwd = tf_profiler_forward_flops(cnn, (28, 28, 1))
    train_flops = 3 * fwd
    print(
        f"\nsmall CNN: forward {fwd / 1e6:.2f} MFLOP/sample counted "
        f"(TF profiler: {tf_fwd / 1e6:.2f}); training {train_flops / 1e6:.2f} MFLOP/sample"
    )
    rows = []
    for jit in (False, True):
        for spe in (1, 8):
            for name, fn in (
                ("plain Keras", plain_keras_cnn),
                ("tfzoo builder", tfzoo_builder_cnn),
            ):
                sps = fn(x, y, args.batch, epochs, jit, spe)
                rows.append((name, args.batch, jit, spe, sps))
    sps = tfzoo_estimator_cnn(x, y, args.batch, epochs)
    rows.append(("tfzoo CNNClassifier defaults", args.batch, False, "default", sps))
    print(f"{'run':<30}{'batch':>6}{'jit':>6}{'spe':>8}{'samples/s':>12}{'GFLOP/s':>10}{'MFU':>8}")
    for name, batch, jit, spe, sps in rows:
        gflops = sps * train_flops / 1e9
        print(
            f"{name:<30}{batch:>6}{str(jit):>6}{str(spe):>8}{sps:>12,.0f}{gflops:>10.1f}"
            f"{100 * gflops / peak:>7.1f}%"
        )

    vocab, units, seq = 65, (64 if quick else 384), 100
    n_txt = 256 if quick else 1024
    xt = rng.integers(0, vocab, (n_txt, seq)).astype(np.int32)
    yt = rng.integers(0, vocab, (n_txt, seq)).astype(np.int32)
    rnn = build_char_rnn(vocab, units=units, sequence_length=seq)
    fwd_rnn = rnn_forward_flops(rnn, steps=seq)
    print(
        f"\nchar-RNN (Embedding 64, LSTM {units}, seq {seq}): forward "
        f"{fwd_rnn / 1e6:.1f} MFLOP/sample; training {3 * fwd_rnn / 1e6:.1f}"
    )
    print(f"{'run':<30}{'batch':>6}{'jit':>6}{'samples/s':>12}{'GFLOP/s':>10}{'MFU':>8}")
    # tfzoo's LSTM is FusedLSTM (tfzoo/layers/fused_lstm.py): its advantage
    # grows as the batch shrinks (the per-step products get thinner).
    for batch, jit in ((32, False), (64, False), (64, True)):
        for name, fn in (("plain Keras", plain_keras_char_rnn), ("tfzoo builder", tfzoo_char_rnn)):
            sps = fn(xt, yt, batch, 2 if quick else 3, jit, vocab, units)
            gflops = sps * 3 * fwd_rnn / 1e9
            print(
                f"{name:<30}{batch:>6}{str(jit):>6}{sps:>12,.0f}{gflops:>10.1f}"
                f"{100 * gflops / peak:>7.1f}%",
                flush=True,
            )
    speeds = sampling_speed(units, vocab, 50 if quick else 300)
    print(
        f"\ngeneration: stateful {speeds['stateful']:,.0f} chars/s, re-fed 100-char window "
        f"{speeds['window']:,.0f} chars/s ({speeds['stateful'] / speeds['window']:.1f}x)"
    )


if __name__ == "__main__":
    main()
