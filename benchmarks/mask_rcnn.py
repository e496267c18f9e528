"""Mask R-CNN speed: training step time and inference images/s, 128 px, default backbone.

    python benchmarks/mask_rcnn.py            # batch 2 and 8, jit_compile off and on
    python benchmarks/mask_rcnn.py --quick    # fewer steps

Each configuration trains on fixed batches of generated shapes (so data
generation is not timed), after warm-up steps that absorb tracing and XLA
compilation; inference is ``model.predict`` on 64 images after one warm-up
call. Prints one table; the device is whatever TensorFlow sees first.
"""

from __future__ import annotations

import argparse
import time

import keras
import tensorflow as tf

from tfzoo.datasets import make_shapes
from tfzoo.models import build_mask_rcnn


def bench(batch, jit, data, steps, warmup):
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
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
