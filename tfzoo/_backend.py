"""Import-time checks: TensorFlow must be installed and be Keras's backend.

Nothing global is changed on import: no backend switch, no seed, no logging
level, no TensorFlow option.
"""

from __future__ import annotations

_INSTALL_HINT = (
    "tfzoo needs TensorFlow 2.20 or newer, which comes through an extra so "
    "that you can keep your own build. Install one of:\n"
    "  pip install 'tfzoo[cpu]'   # tensorflow-cpu\n"
    "  pip install 'tfzoo[gpu]'   # tensorflow with CUDA\n"
    "  pip install 'tfzoo[tpu]'   # Colab TPU runtime / TPU VM"
)


def require_tensorflow():
    """Import TensorFlow or raise one ImportError that says which extra to install."""
    try:
        import tensorflow as tf
    except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
        raise ImportError(f"{_INSTALL_HINT}\n(import error: {exc})") from exc
    return tf


def require_tensorflow_backend():
    """Keras must run on TensorFlow: tfzoo's distribution code is tf.distribute."""
    import os

    backend = os.environ.get("KERAS_BACKEND")
    if backend is None or backend == "tensorflow":
        import keras

        backend = keras.backend.backend()  # also honours ~/.keras/keras.json
    if backend != "tensorflow":
        raise ImportError(
            "tfzoo runs on Keras's TensorFlow backend, but KERAS_BACKEND selects "
            f"{backend!r}. Set KERAS_BACKEND=tensorflow before importing keras."
        )


def onednn_enabled():
    """Whether TensorFlow runs its oneDNN CPU kernels in this process.

    TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` once, when it is imported, and
    turns oneDNN on by default only on CPUs with AVX-512-class features. On
    the 2-core AVX2 machine tfzoo is developed on it is off by default, and
    turning it on (``TF_ENABLE_ONEDNN_OPTS=1`` before TensorFlow is imported)
    trains the small CNN 2-3x faster but the char-RNN's LSTM about 1.3x
    slower (``benchmarks/throughput.py --onednn on|off``). tfzoo never sets
    it: the process's entry point decides (the image recipes turn it on,
    ``recipes/_common.default_onednn``).
    """
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # pragma: no cover - layout of a future TensorFlow
        return None
    return bool(_pywrap_util_port.IsMklEnabled())
