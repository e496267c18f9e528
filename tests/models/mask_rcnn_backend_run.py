"""Train and run a tiny Mask R-CNN on one Keras backend; print one JSON line.

Run as ``KERAS_BACKEND=<name> python mask_rcnn_backend_run.py <jit: 0|1>`` from
``tests/models/test_mask_rcnn_backends.py`` (one subprocess per backend).
"""

import importlib
import json
import os
import pathlib
import sys
import time
import types


def _import_mask_rcnn():
    """``tfzoo.models.mask_rcnn`` on this backend.

    Until ``import tfzoo`` accepts every backend, the package's import-time
    backend check is skipped by registering a bare ``tfzoo`` package first;
    nothing of the package root is needed here.
    """
    try:
        import tfzoo  # noqa: F401
    except ImportError as exc:
        if "KERAS_BACKEND" not in str(exc):
            raise
        for name in [m for m in sys.modules if m == "tfzoo" or m.startswith("tfzoo.")]:
            del sys.modules[name]
        root = pathlib.Path(__file__).resolve().parents[2] / "tfzoo"
        package = types.ModuleType("tfzoo")
        package.__path__ = [str(root)]
        sys.modules["tfzoo"] = package
    shapes = importlib.import_module("tfzoo.datasets.shapes")
    return importlib.import_module("tfzoo.models.mask_rcnn"), shapes.make_shapes


def main():
    jit = sys.argv[1] == "1"
    import keras
    import numpy as np

    mask_rcnn, make_shapes = _import_mask_rcnn()
    keras.utils.set_random_seed(0)
    data = make_shapes(8, image_size=32, max_instances=3, seed=0)
    targets = {k: data[k] for k in ("boxes", "classes", "masks")}
    model = mask_rcnn.build_mask_rcnn(
        3,
        (32, 32, 3),
        fpn_filters=8,
        seed=0,
        pre_nms_top_k=200,
        post_nms_top_k=32,
        inference_post_nms_top_k=20,
        rpn_samples=64,
        num_rois=16,
        num_mask_rois=4,
        fc_units=32,
        mask_filters=16,
        mask_convs=1,
        max_detections=5,
    )
    model.compile(keras.optimizers.Adam(3e-3), jit_compile=jit)
    start = time.perf_counter()
    history = model.fit(data["images"], targets, batch_size=4, epochs=5, verbose=0)
    fit_s = time.perf_counter() - start
    evaluated = model.evaluate(data["images"], targets, batch_size=4, verbose=0, return_dict=True)
    out = model.predict(data["images"][:3], batch_size=2, verbose=0)
    n = out["num_detections"]
    padded_ok = all(
        np.all(out["classes"][i, k:] == -1) and np.all(out["masks"][i, k:] == 0)
        for i, k in enumerate(n)
    )
    print(
        json.dumps(
            {
                "backend": keras.backend.backend(),
                "jit_compile": model.jit_compile,
                "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
                "evaluate": {k: float(v) for k, v in evaluated.items()},
                "shapes": {k: list(v.shape) for k, v in sorted(out.items())},
                "dtypes": {k: str(v.dtype) for k, v in out.items()},
                "padded_ok": bool(padded_ok),
                "classes_in_range": bool(
                    all(
                        np.all((out["classes"][i, :k] >= 1) & (out["classes"][i, :k] <= 3))
                        for i, k in enumerate(n)
                    )
                ),
                "tensorflow_imported": "tensorflow" in sys.modules,
                "fit_s": fit_s,
            }
        )
    )


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "jax")
    main()
