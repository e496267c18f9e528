"""Where the small CNN's training step spends its time: one row per convolution op.

For each of the seed CNN's convolutions, at the training batch size, times
the forward op and the two backward ops (gradient of the filter, gradient of
the input; the first layer needs no input gradient) as separate graph
functions, and prints ms and GFLOP/s, next to the dense layers and the
machine's matmul peak. Run with ``--onednn on`` and ``--onednn off`` to see
what TensorFlow's oneDNN kernels change (they are off by default on CPUs
without AVX-512):

    python benchmarks/cnn_profile.py --onednn off
    python benchmarks/cnn_profile.py --onednn on
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
_args.add_argument("--onednn", choices=("on", "off", "tf"), default="on")
_args.add_argument("--batch", type=int, default=128)
_args.add_argument("--repeats", type=int, default=30)
ARGS = _args.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
if ARGS.onednn != "tf":
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if ARGS.onednn == "on" else "0"

import tensorflow as tf  # noqa: E402

from tfzoo._backend import onednn_enabled  # noqa: E402

# (input size, in channels, out channels, kernel, stride) of the seed's table
CONVS = [(28, 1, 16, 5, 1), (28, 16, 8, 5, 2), (14, 8, 12, 4, 2)]


def median_ms(fn, repeats):
    fn = tf.function(fn)
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        tf.nest.map_structure(lambda t: t.numpy(), fn())
        times.append(time.perf_counter() - start)
    return 1000 * sorted(times)[len(times) // 2]  # median


def main():
    b, reps = ARGS.batch, ARGS.repeats
    print(f"oneDNN kernels {'on' if onednn_enabled() else 'off'}; batch {b}; median of {reps}")
    a = tf.random.normal((2048, 2048))
    peak = 2 * 2048**3 / median_ms(lambda: tf.matmul(a, a), 5) / 1e6
    print(f"matmul 2048^3: {peak:.0f} GFLOP/s\n")
    print(f"{'op':<34}{'ms':>8}{'GFLOP/s':>10}")
    total = 0.0
    for i, (size, c_in, c_out, k, s) in enumerate(CONVS, start=1):
        x = tf.random.normal((b, size, size, c_in))
        w = tf.random.normal((k, k, c_in, c_out))
        out = size // s
        dy = tf.random.normal((b, out, out, c_out))
        flops = 2 * b * out * out * k * k * c_in * c_out
        strides = [1, s, s, 1]
        ops = {
            "forward": lambda x=x, w=w, s=s: tf.nn.conv2d(x, w, s, "SAME"),
            "filter gradient": lambda x=x, dy=dy, w=w, st=strides: tf.raw_ops.Conv2DBackpropFilter(
                input=x, filter_sizes=tf.shape(w), out_backprop=dy, strides=st, padding="SAME"
            ),
        }
        if i > 1:
            ops["input gradient"] = lambda x=x, dy=dy, w=w, st=strides: (
                tf.raw_ops.Conv2DBackpropInput(
                    input_sizes=tf.shape(x), filter=w, out_backprop=dy, strides=st, padding="SAME"
                )
            )
        for name, fn in ops.items():
            ms = median_ms(fn, reps)
            total += ms
            label = f"conv{i} {size}x{size}x{c_in}->{c_out} {name}"
            print(f"{label:<34}{ms:>8.2f}{flops / ms / 1e6:>10.1f}")
    for name, (n_in, n_out) in (("fc 588->200", (588, 200)), ("output 200->10", (200, 10))):
        x = tf.random.normal((b, n_in))
        w = tf.random.normal((n_in, n_out))
        ms = 3 * median_ms(lambda x=x, w=w: tf.matmul(x, w), reps)
        total += ms
        print(
            f"{name + ' (x3: fwd+bwd)':<34}{ms:>8.2f}{3 * 2 * b * n_in * n_out / ms / 1e6:>10.1f}"
        )
    print(f"{'sum':<34}{total:>8.2f}  ({b / total * 1000:,.0f} samples/s if nothing else ran)")


if __name__ == "__main__":
    main()
