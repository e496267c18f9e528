"""Loading a .keras file of a tfzoo model without ``import tfzoo`` says to import it."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np

from tfzoo import Linear, build_lstm_forecaster
from tfzoo.models import build_mask_rcnn


def _load_without_tfzoo(paths):
    """``keras.saving.load_model`` of each path in a fresh interpreter without tfzoo."""
    code = f"""
        import json, sys
        import keras
        out = []
        for path in {[str(p) for p in paths]!r}:
            try:
                keras.saving.load_model(path)
                out.append(["loaded", ""])
            except Exception as e:
                out.append([type(e).__name__, str(e)])
        assert "tfzoo" not in sys.modules
        print("RESULT:" + json.dumps(out))
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT:")]
    assert lines, done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT:") :])


def test_loading_without_import_tfzoo_says_to_import_it(tmp_path):
    mask_rcnn = build_mask_rcnn(
        1, (32, 32, 3), fpn_filters=4, rpn_filters=4, fc_units=4, mask_filters=4, mask_convs=1
    )
    mask_rcnn.save(tmp_path / "mask_rcnn.keras")
    inputs = keras.Input((3,))
    functional = keras.Model(inputs, Linear(1)(inputs))  # a tfzoo layer in a Keras model
    functional.save(tmp_path / "linear.keras")
    forecaster = build_lstm_forecaster(4, units=2)  # nested tfzoo layers
    forecaster.save(tmp_path / "forecaster.keras")
    paths = [tmp_path / f"{n}.keras" for n in ("mask_rcnn", "linear", "forecaster")]
    for path, (kind, message) in zip(paths, _load_without_tfzoo(paths)):
        assert kind == "TypeError", (path.name, kind, message[:500])
        assert "Could not locate class" in message and "import tfzoo" in message, message[:500]
    # With tfzoo imported the same files load, and the hint does not get in the way.
    again = keras.saving.load_model(paths[1])
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(again.predict(x, verbose=0), functional.predict(x, verbose=0))
    assert "import tfzoo" in functional.layers[1].get_build_config()["tfzoo"]
    assert isinstance(keras.saving.load_model(paths[0]), type(mask_rcnn))
