"""Which Keras backend tfzoo runs on, and TensorFlow only where it is needed.

tfzoo runs on Keras's TensorFlow, JAX and PyTorch backends. TensorFlow is
imported at ``import tfzoo`` time only when it is Keras's backend; on JAX or
PyTorch it need not be installed. The TensorFlow-only features
(``tf.distribute`` strategies but the default one, parameter-server training,
``StagedModel`` placement) call :func:`require_tensorflow_backend` first,
which raises one clear error naming the backend they need. On JAX the
strategy names (but ``"ps"``) resolve to ``keras.distribution`` instead
(:func:`tfzoo.distribute.get_distribution`).

Nothing global is changed on import: no backend switch, no seed, no logging
level, no TensorFlow option.
"""

from __future__ import annotations

_INSTALL_HINT = (
    "tfzoo on Keras's TensorFlow backend needs TensorFlow 2.20 or newer, which comes "
    "through an extra so that you can keep your own build. Install one of:\n"
    "  pip install 'tfzoo[cpu]'   # tensorflow-cpu\n"
    "  pip install 'tfzoo[gpu]'   # tensorflow with CUDA\n"
    "  pip install 'tfzoo[tpu]'   # tensorflow-tpu (TPU VM)\n"
    "or run tfzoo on another Keras backend, without TensorFlow:\n"
    "  pip install 'tfzoo[jax]'   and set KERAS_BACKEND=jax   (CPU, GPU, Colab TPU)\n"
    "  pip install 'tfzoo[torch]' and set KERAS_BACKEND=torch"
)


class TensorFlowBackendRequired(RuntimeError):
    """A TensorFlow-only tfzoo feature was used on another Keras backend."""


def _missing_tensorflow(exc):
    """Whether ``exc`` (an ImportError) says that TensorFlow itself is not installed."""
    name = getattr(exc, "name", None) or ""
    return name.partition(".")[0] == "tensorflow" or "tensorflow" in str(exc)


def backend():
    """The name of Keras's backend in this process (``"tensorflow"``, ``"jax"``, ``"torch"``...)."""
    import keras

    return keras.backend.backend()


def is_tensorflow_backend():
    return backend() == "tensorflow"


def require_tensorflow():
    """Import TensorFlow or raise one ImportError that says which extra to install."""
    try:
        import tensorflow as tf
    except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
        raise ImportError(f"{_INSTALL_HINT}\n(import error: {exc})") from exc
    return tf


def check_import():
    """What ``import tfzoo`` checks: Keras imports, and TensorFlow is there if it is the backend."""
    try:
        import keras
    except ImportError as exc:
        # Keras on its TensorFlow backend (its default) imports TensorFlow itself.
        if _missing_tensorflow(exc):
            raise ImportError(f"{_INSTALL_HINT}\n(import error: {exc})") from exc
        raise
    if keras.backend.backend() == "tensorflow":
        require_tensorflow()


def require_tensorflow_backend(feature):
    """Raise :class:`TensorFlowBackendRequired` unless Keras runs on TensorFlow.

    Args:
        feature: what the user called, as they would write it
            (``"tfzoo.distribute.fit_ps"``, ``"get_strategy('mirrored')"``).
    """
    name = backend()
    if name != "tensorflow":
        raise TensorFlowBackendRequired(
            f"{feature} needs Keras's TensorFlow backend (it is built on tf.distribute / "
            f"TensorFlow ops), but this process runs Keras on the {name!r} backend. Set "
            "KERAS_BACKEND=tensorflow (with TensorFlow installed: pip install 'tfzoo[cpu]') "
            "before keras is imported."
        )
    return require_tensorflow()


class _LazyTensorFlow:
    """The ``tensorflow`` module, imported at the first attribute access.

    ``from tfzoo._backend import tensorflow as tf`` lets a module use ``tf.*``
    in its functions without importing TensorFlow when the module is imported.
    """

    def __getattr__(self, name):
        return getattr(require_tensorflow(), name)

    def __repr__(self):
        return "<tensorflow, imported lazily by tfzoo>"


tensorflow = _LazyTensorFlow()


def onednn_enabled():
    """Whether TensorFlow runs its oneDNN CPU kernels in this process.

    TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` once, when it is imported, and
    turns oneDNN on by default only on CPUs with AVX-512-class features. On
    the 2-core AVX2 machine tfzoo is developed on it is off by default, and
    turning it on (``TF_ENABLE_ONEDNN_OPTS=1`` before TensorFlow is imported)
    trains the small CNN 2-3x faster but the char-RNN's LSTM about 1.3x
    slower (``benchmarks/throughput.py --onednn on|off``). tfzoo never sets
    it: the process's entry point decides (the image recipes turn it on,
    ``recipes/_common.default_onednn``). ``None`` off the TensorFlow backend.
    """
    if not is_tensorflow_backend():
        return None
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # pragma: no cover - layout of a future TensorFlow
        return None
    return bool(_pywrap_util_port.IsMklEnabled())
