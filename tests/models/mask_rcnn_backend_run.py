"""Train and run a tiny Mask R-CNN on one Keras backend; print one JSON line.

Run as ``KERAS_BACKEND=<name> python mask_rcnn_backend_run.py <jit: 0|1>`` from
``tests/models/test_mask_rcnn_backends.py`` (one subprocess per backend).
"""

import json
import os
import sys
import time


def main():
    jit = sys.argv[1] == "1"
    import keras
    import numpy as np

    from tests.models.mask_rcnn_small import SMALL
    from tfzoo.datasets import make_shapes
    from tfzoo.models import mask_rcnn

    keras.utils.set_random_seed(0)
    data = make_shapes(8, image_size=32, max_instances=3, seed=0)
    targets = {k: data[k] for k in ("boxes", "classes", "masks")}
    model = mask_rcnn.build_mask_rcnn(
        3,
        (32, 32, 3),
        fpn_filters=8,
        seed=0,
        **SMALL,
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
