"""Resolve a distribution strategy from a string (or pass one through).

``get_strategy("auto")`` picks, in this order:

1. a TPU, when one is reachable: ``TPU_NAME`` is set (a TPU VM or a named
   TPU), ``COLAB_TPU_ADDR`` is set (a Colab TPU runtime), or the machine has
   TPU device files (``/dev/accel*``: a TPU VM);
2. the cluster that ``TF_CONFIG`` describes: ``ParameterServerStrategy``
   when it has ``ps`` tasks, ``MultiWorkerMirroredStrategy`` when it names
   more than one worker (chief included). The cluster comes before local
   GPUs: a worker of a multi-GPU cluster that trained a mirrored model of
   its own would not train the cluster's model;
3. ``MirroredStrategy`` over all GPUs when more than one is visible;
4. the default strategy.

It logs what it chose and why (logger ``tfzoo.distribute``, level INFO).

``tf.distribute`` is TensorFlow's: on Keras's JAX and PyTorch backends
``"auto"`` and ``"default"`` give :class:`DefaultStrategy` (one device, the
backend's default: ``with strategy.scope()`` and ``num_replicas_in_sync``
work as with TensorFlow's default strategy) and the other names raise
:class:`tfzoo.distribute.TensorFlowBackendRequired`. TensorFlow is imported
only on the TensorFlow backend.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import json
import logging
import os
import warnings

from tfzoo._backend import backend as keras_backend
from tfzoo._backend import is_tensorflow_backend, require_tensorflow_backend
from tfzoo._backend import tensorflow as tf

logger = logging.getLogger("tfzoo.distribute")

STRATEGY_NAMES = ("auto", "default", "mirrored", "multiworker", "ps", "tpu")


class DefaultStrategy:
    """The default strategy off the TensorFlow backend: one device, no replication.

    What :func:`get_strategy` returns for ``"auto"`` and ``"default"`` on
    Keras's JAX and PyTorch backends, where ``tf.distribute`` does not apply.
    Like TensorFlow's default strategy, ``scope()`` changes nothing (variables
    go to the backend's default device: a GPU or TPU when JAX or PyTorch sees
    one), ``num_replicas_in_sync`` is 1 and ``run(fn, args)`` calls ``fn``.
    """

    num_replicas_in_sync = 1

    def __init__(self):
        self.backend = keras_backend()

    def scope(self):
        """A context manager that changes nothing (re-entrant)."""
        return contextlib.nullcontext(self)

    def run(self, fn, args=(), kwargs=None):
        return fn(*args, **(kwargs or {}))

    def __repr__(self):
        return f"DefaultStrategy(backend={self.backend!r})"


_DEFAULT = {}


def _default_strategy():
    name = keras_backend()
    if name not in _DEFAULT:
        _DEFAULT[name] = DefaultStrategy()
    return _DEFAULT[name]


def strategy_types():
    """The strategy classes :func:`get_strategy` passes through on this backend."""
    if is_tensorflow_backend():
        return (tf.distribute.Strategy,)
    return (DefaultStrategy,)


def tpu_address(environ=None, device_glob="/dev/accel*"):
    """How a TPU can be reached here: ``(address, reason)``, or ``(None, reason)``.

    ``address`` is what ``TPUClusterResolver(tpu=...)`` takes: the value of
    ``TPU_NAME``, ``"grpc://" + COLAB_TPU_ADDR``, or ``"local"`` on a TPU VM.
    """
    env = os.environ if environ is None else environ
    if env.get("TPU_NAME"):
        return env["TPU_NAME"], f"TPU_NAME={env['TPU_NAME']}"
    if env.get("COLAB_TPU_ADDR"):
        return "grpc://" + env["COLAB_TPU_ADDR"], f"COLAB_TPU_ADDR={env['COLAB_TPU_ADDR']}"
    devices = sorted(glob.glob(device_glob))
    if devices:
        return "local", f"TPU device files {devices[:2]} (TPU VM)"
    return None, "no TPU_NAME, no COLAB_TPU_ADDR and no /dev/accel* device"


def tf_config_cluster(environ=None):
    """The ``cluster`` of ``TF_CONFIG`` as a dict of task lists ({} without it)."""
    env = os.environ if environ is None else environ
    raw = env.get("TF_CONFIG")
    if not raw:
        return {}
    try:
        cluster = json.loads(raw).get("cluster", {})
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"TF_CONFIG is not valid JSON: {raw[:200]!r}") from exc
    if not isinstance(cluster, dict):
        raise ValueError(f"TF_CONFIG's cluster must be a dict of task lists, got {cluster!r}")
    return cluster


def tf_config_workers(environ=None):
    """Number of workers (chief included) that ``TF_CONFIG`` names (0 without it)."""
    cluster = tf_config_cluster(environ)
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def resolve_strategy_spec(spec="auto", environ=None, n_gpus=None, device_glob="/dev/accel*"):
    """Which strategy ``spec`` means here, without creating it: ``(name, reason)``.

    Off the TensorFlow backend ``"auto"`` means ``"default"`` (one device);
    another name is returned as asked (:func:`get_strategy` refuses it there).
    """
    if spec is None:
        spec = "auto"
    if not isinstance(spec, str) or spec not in STRATEGY_NAMES:
        raise ValueError(
            f"strategy must be one of {STRATEGY_NAMES} or a tf.distribute.Strategy, got {spec!r}"
        )
    if spec != "auto":
        return spec, f"asked for {spec!r}"
    if not is_tensorflow_backend():
        return "default", (
            f"Keras runs on {keras_backend()!r}: one device, the backend's default "
            "(tf.distribute strategies are TensorFlow-only)"
        )
    address, why = tpu_address(environ, device_glob)
    if address is not None:
        return "tpu", why
    # The cluster wins over local GPUs (see the module docstring).
    cluster = tf_config_cluster(environ)
    workers = tf_config_workers(environ)
    if cluster.get("ps"):
        return "ps", f"TF_CONFIG names {len(cluster['ps'])} ps task(s) and {workers} worker(s)"
    if workers > 1:
        return "multiworker", f"TF_CONFIG names {workers} workers"
    # Physical, not logical, devices: listing logical ones starts the TF runtime,
    # after which MultiWorkerMirroredStrategy can no longer configure collectives.
    gpus = len(tf.config.list_physical_devices("GPU")) if n_gpus is None else n_gpus
    if gpus > 1:
        return "mirrored", f"{gpus} GPUs visible"
    return "default", f"{why}; {gpus} GPU(s); {workers or 'no'} TF_CONFIG workers"


def get_strategy(spec="auto"):
    """Return a ``tf.distribute.Strategy`` for ``spec`` (a :class:`DefaultStrategy` off TensorFlow).

    Args:
        spec: ``"auto"`` (see the module docstring), ``"default"``,
            ``"mirrored"`` (all GPUs, else all logical CPUs: on CPUs only
            slower than the default, which is why ``"auto"`` never picks it
            without GPUs), ``"multiworker"``
            (``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``), ``"ps"``
            (``ParameterServerStrategy`` from ``TF_CONFIG``; train with
            :func:`tfzoo.distribute.fit_ps`), ``"tpu"``, or a
            ``tf.distribute.Strategy``, returned as is.

    For any strategy but the default (a strategy passed in included), tfzoo's
    fixes for Keras's distributed ``fit`` are installed
    (:func:`tfzoo.distribute.install_keras_fixes`).
    Strategies are created once per process and reused: TensorFlow allows one
    multi-worker strategy per process, and two ``MirroredStrategy`` objects
    over the same devices collide in its collective ops.

    On Keras's JAX and PyTorch backends ``"auto"`` and ``"default"`` (and a
    :class:`DefaultStrategy`) give the one :class:`DefaultStrategy`; the
    other names and ``tf.distribute`` strategies need the TensorFlow backend.

    Raises:
        ValueError: for an unknown name.
        RuntimeError: ``"tpu"`` where no TPU can be reached (at once, no waiting).
        TensorFlowBackendRequired: a TensorFlow-only strategy off the TensorFlow
            backend.
    """
    if not is_tensorflow_backend():
        return _non_tensorflow_strategy(spec)
    if isinstance(spec, tf.distribute.Strategy):
        if spec is not tf.distribute.get_strategy():
            install_keras_fixes()
        return spec
    name, reason = resolve_strategy_spec(spec)
    logger.info("strategy=%r -> %s (%s)", spec, name, reason)
    if name == "default":
        return tf.distribute.get_strategy()
    install_keras_fixes()  # Keras 3 fit under Mirrored/MultiWorker strategies
    if name == "mirrored":
        return mirrored_strategy(_local_devices())
    if name == "multiworker":
        workers = tf_config_workers()
        if workers < 2:
            warnings.warn(
                "strategy='multiworker' but TF_CONFIG "
                + ("is not set" if not os.environ.get("TF_CONFIG") else f"names {workers} worker")
                + ": MultiWorkerMirroredStrategy falls back to one worker over this "
                "machine's devices, so each process started this way trains a model of "
                "its own. Set TF_CONFIG on every worker to train one model together.",
                UserWarning,
                stacklevel=2,
            )
        return _multiworker_strategy()
    if name == "ps":
        from tfzoo.distribute.parameter_server import ps_strategy

        return ps_strategy()
    address, why = tpu_address()
    if address is None:
        raise RuntimeError(
            f"strategy='tpu' but no TPU can be reached: {why}. On Colab choose a TPU "
            "runtime; on a TPU VM run on the VM itself; elsewhere set TPU_NAME."
        )
    return _tpu_strategy(address)


def _non_tensorflow_strategy(spec):
    if isinstance(spec, DefaultStrategy):
        return spec
    if spec is None:
        spec = "auto"
    if isinstance(spec, str) and spec in STRATEGY_NAMES:
        name, reason = resolve_strategy_spec(spec)
        if name == "default":
            logger.info("strategy=%r -> default (%s)", spec, reason)
            return _default_strategy()
        require_tensorflow_backend(f"get_strategy({spec!r}) (tf.distribute)")
    if type(spec).__module__.partition(".")[0] == "tensorflow":
        require_tensorflow_backend(f"a {type(spec).__name__} (tf.distribute)")
    resolve_strategy_spec(spec)  # the ValueError for anything else
    raise AssertionError("unreachable")  # pragma: no cover


def install_keras_fixes():
    """Install tfzoo's fixes for Keras's ``fit`` under ``tf.distribute`` (idempotent).

    ``get_strategy`` (for any strategy but the default) and
    :func:`tfzoo.testing.run_layer_test` call it; call it yourself before
    training a Keras model under a strategy you created without tfzoo. It
    patches Keras once per process, only on the Keras versions whose code the
    fixes were written against and only while that code is still broken
    (:mod:`tfzoo.distribute.keras_fixes`). Returns whether the fixes are in place
    (always ``False`` off the TensorFlow backend: they patch Keras's TensorFlow trainer).
    """
    from tfzoo.distribute import keras_fixes

    return keras_fixes.install()


def is_parameter_server(strategy):
    """Whether ``strategy`` is a ``ParameterServerStrategy`` (Keras's ``fit`` refuses those)."""
    if not is_tensorflow_backend():
        return False
    return isinstance(strategy, tf.distribute.experimental.ParameterServerStrategy)


def _local_devices():
    """The devices MirroredStrategy would pick: all GPUs, else all logical CPUs."""
    require_tensorflow_backend("get_strategy('mirrored') (tf.distribute)")
    gpus = tf.config.list_logical_devices("GPU")
    devices = gpus or tf.config.list_logical_devices("CPU")
    return tuple(d.name for d in devices)


@functools.cache
def mirrored_strategy(devices):
    """The process's one ``MirroredStrategy`` over ``devices`` (a tuple of names)."""
    # Two strategies over the same devices reuse collective instance keys, and
    # training with the second then fails with "Shape mismatch in the
    # collective instance" (TF 2.21, logical CPUs). Reusing one avoids it and
    # keeps clone()+fit() in grid searches working.
    require_tensorflow_backend("MirroredStrategy (tf.distribute)")
    install_keras_fixes()
    return tf.distribute.MirroredStrategy(list(devices))


@functools.cache
def _multiworker_strategy():
    install_keras_fixes()
    return tf.distribute.MultiWorkerMirroredStrategy()


@functools.cache
def _tpu_strategy(address):  # pragma: no cover - needs a TPU
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
    if address != "local":
        tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
