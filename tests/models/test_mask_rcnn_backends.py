"""Mask R-CNN on Keras's JAX and PyTorch backends, each in its own process.

The worker (``mask_rcnn_backend_run.py``) builds a tiny model on 32-pixel
``make_shapes`` images, fits it for 5 epochs (XLA ``jit_compile=True`` on JAX,
eager on PyTorch), evaluates it and predicts, and prints what it saw as JSON.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

WORKER = pathlib.Path(__file__).with_name("mask_rcnn_backend_run.py")
ROOT = WORKER.parents[2]
LOSSES = {"loss", "rpn_class_loss", "rpn_box_loss", "class_loss", "box_loss", "mask_loss"}


def _run(backend, jit):
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    done = subprocess.run(
        [sys.executable, str(WORKER), "1" if jit else "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("backend, jit", [("jax", True), ("torch", False)])
def test_mask_rcnn_trains_evaluates_and_predicts(backend, jit):
    got = _run(backend, jit)
    assert got["backend"] == backend and got["jit_compile"] is jit
    history = got["history"]
    assert set(history) == LOSSES and set(got["evaluate"]) == LOSSES
    loss = history["loss"]
    assert all(v == v and abs(v) < 1e3 for v in loss), loss  # finite
    assert loss[-1] < 0.85 * loss[0], loss  # it learns
    assert history["rpn_class_loss"][-1] < history["rpn_class_loss"][0], history
    assert got["shapes"] == {
        "boxes": [3, 5, 4],
        "classes": [3, 5],
        "scores": [3, 5],
        "masks": [3, 5, 32, 32],
        "num_detections": [3],
    }
    assert got["dtypes"]["classes"] == "int32" and got["dtypes"]["num_detections"] == "int32"
    assert got["padded_ok"] and got["classes_in_range"]
