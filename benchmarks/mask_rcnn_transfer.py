"""Mask R-CNN transfer to new classes from a model trained for real: 3 shape classes -> 2.

    python benchmarks/mask_rcnn_transfer.py                 # about 6 CPU-minutes on 2 cores
    python benchmarks/mask_rcnn_transfer.py --epochs 1 --train 64   # a quick look

Trains the 64 px model (small backbone, stem and C2 frozen, frozen batch norm) on generated
shapes with three classes (square, circle, triangle), saves it as a ``.keras`` file, and builds
a 2-class model from the file with ``transfer_mask_rcnn(path, 2, ["square", "circle"])``. Then
checks, and prints, that

- every backbone, FPN and RPN weight equals the trained source's, bit for bit, and the report
  counts them as copied;
- the class-specific layers (the box head's class logits and box deltas, the mask logits) are
  reported as initialised afresh and are not the source's values;
- the new model trains: its loss on the same images, triangles removed, falls over the epochs.

It exits non-zero if a check fails. The unit test (``tests/models/test_mask_rcnn_user_data.py``)
checks the same things on a 32 px model whose weights were moved off their initial values
instead of trained, to save CI a compile.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from tfzoo.datasets import make_shapes
from tfzoo.models import build_mask_rcnn, transfer_mask_rcnn

COPIED = ("backbone", "fpn", "rpn_head")


def _numpy(w):
    return np.asarray(keras.ops.convert_to_numpy(w.value))


def _without_triangles(data):
    drop = data["classes"] == 3
    return {
        "boxes": np.where(drop[..., None], -1.0, data["boxes"]).astype("float32"),
        "classes": np.where(drop, -1, data["classes"]).astype("int32"),
        "masks": np.where(drop[..., None, None], 0, data["masks"]).astype("uint8"),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=400, help="training images (64 px)")
    p.add_argument("--epochs", type=int, default=3, help="epochs of each model")
    p.add_argument("--out", default=None, help="where the source .keras goes (default: temp)")
    args = p.parse_args(argv)

    keras.utils.set_random_seed(0)
    data = make_shapes(args.train, image_size=64, max_instances=3, seed=0)
    source = build_mask_rcnn(
        3,
        (64, 64, 3),
        fpn_filters=32,
        seed=0,
        frozen_stages=2,
        freeze_batch_norm=True,
        class_names=data["class_names"],
    )
    initial = {w.path: _numpy(w) for w in source.weights}
    source.compile(keras.optimizers.Adam(1e-3), jit_compile=True)
    targets = {k: data[k] for k in ("boxes", "classes", "masks")}
    start = time.perf_counter()
    history = source.fit(data["images"], targets, batch_size=8, epochs=args.epochs, verbose=0)
    losses = history.history["loss"]
    print(
        f"source: 3 classes {tuple(source.class_names[1:])}, {args.epochs} epochs of "
        f"{args.train} images in {time.perf_counter() - start:.0f} s; loss "
        + " -> ".join(f"{v:.3f}" for v in losses)
    )
    moved = sum(not np.array_equal(_numpy(w), initial[w.path]) for w in source.trainable_weights)
    print(f"source: {moved} of {len(source.trainable_weights)} trainable weights moved by training")

    out = Path(args.out or tempfile.mkdtemp(prefix="transfer_"))
    out.mkdir(parents=True, exist_ok=True)
    path = out / "three_classes.keras"
    source.save(path)
    model, report = transfer_mask_rcnn(path, 2, ["square", "circle"])
    print()
    print(report)
    print()

    failures = []
    equal = {c: [0, 0] for c in COPIED}
    prefix = f"{model.name}/"
    # the weights come in the same order in both models (transfer_mask_rcnn pairs them so)
    for old, new in zip(source.weights, model.weights):
        name = new.path[len(prefix) :] if new.path.startswith(prefix) else new.path
        component = report.components.get(name)
        if component in COPIED:
            equal[component][0] += bool(np.array_equal(_numpy(old), _numpy(new)))
            equal[component][1] += 1
    for component, (same, total) in equal.items():
        print(f"{component}: {same} of {total} weights equal the trained source's")
        if total == 0 or same != total or len(report.copied_in(component)) != total:
            failures.append(f"{component}: {same} of {total} equal")
    heads = sorted(n for n, _, _ in report.initialised)
    print(f"initialised afresh: {', '.join(heads)}")
    expected = {
        f"{head}/{layer}/{kind}"
        for head, layer in (
            ("box_head", "class_logits"),
            ("box_head", "box_deltas"),
            ("mask_head", "mask_logits"),
        )
        for kind in ("kernel", "bias")
    }
    if set(heads) != expected or report.mismatched:
        failures.append(f"class heads {heads}, mismatched {report.mismatched}")
    new_logits = _numpy(model.box_head.classifier.kernel)
    old_logits = _numpy(source.box_head.classifier.kernel)[:, : new_logits.shape[1]]
    if np.allclose(new_logits, old_logits):
        failures.append("the class logits are the source's")

    model.compile(keras.optimizers.Adam(1e-3), jit_compile=True)
    start = time.perf_counter()
    history = model.fit(
        data["images"], _without_triangles(data), batch_size=8, epochs=args.epochs, verbose=0
    )
    new_losses = history.history["loss"]
    print(
        f"\ntransferred: 2 classes, {args.epochs} epochs on the same images without triangles "
        f"in {time.perf_counter() - start:.0f} s; loss "
        + " -> ".join(f"{v:.3f}" for v in new_losses)
    )
    if not (np.all(np.isfinite(new_losses)) and new_losses[-1] < new_losses[0]):
        failures.append(f"the transferred model's loss did not fall: {new_losses}")
    print("\n" + ("all checks hold" if not failures else "FAILED: " + "; ".join(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
