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

``tf.distribute`` is TensorFlow's. On Keras's JAX backend the names resolve
to ``keras.distribution`` instead (:func:`get_distribution`): ``"auto"`` and
``"mirrored"`` to ``DataParallel`` over all local devices when JAX sees
several (``jax.devices()``: GPUs, TPU cores, or host CPUs split with
``XLA_FLAGS=--xla_force_host_platform_device_count=N``), ``"tpu"`` to
``DataParallel`` over the TPU devices, and :func:`get_strategy` wraps the
distribution in a :class:`KerasDistributionStrategy`; with one device it is
the one-device :class:`DefaultStrategy`. ``"multiworker"`` (and ``"auto"``
when the environment describes a cluster of processes) starts JAX's
distributed runtime and gives ``DataParallel`` over every process's devices
(:mod:`tfzoo.distribute.jax_multiworker`: the cluster comes from the
``KERAS_DISTRIBUTION_*`` variables or ``TF_CONFIG``). ``"ps"`` is
TensorFlow-only. On PyTorch
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
    Keras's PyTorch backend, and on JAX for ``"default"`` and for ``"auto"`` /
    ``"mirrored"`` when JAX sees one device (several: a
    :class:`KerasDistributionStrategy`), where ``tf.distribute`` does not apply.
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


class KerasDistributionStrategy:
    """A ``keras.distribution.Distribution`` behind the strategy interface (JAX backend).

    What :func:`get_strategy` returns on Keras's JAX backend for a name that
    resolves to a distribution over several devices (see
    :func:`get_distribution`), or for a ``keras.distribution.Distribution``
    passed in. ``scope()`` enters the distribution's scope: variables created
    in it are laid out over its device mesh (replicated under
    ``DataParallel``), and ``model.fit`` run in it shards every batch over the
    mesh's batch axis (Keras's JAX trainer reads the distribution active when
    ``fit`` runs). Training is SPMD: the loss and its gradients are those of
    the whole global batch, so nothing is rescaled per replica.
    ``num_replicas_in_sync`` is the number of devices on the batch axis; a
    global batch must split evenly over them, which the estimators ensure
    by padding (see :class:`tfzoo.estimators._runtime.ArrayBatches`).

    Args:
        distribution: a ``keras.distribution.Distribution``.

    Attributes:
        distribution: the wrapped distribution.
        backend: Keras's backend (``"jax"``).
    """

    def __init__(self, distribution):
        self.distribution = distribution
        self.backend = keras_backend()

    @property
    def num_replicas_in_sync(self):
        """Devices on the distribution's batch axis (the global batch is split over them)."""
        mesh = self.distribution.device_mesh
        sizes = dict(zip(mesh.axis_names, mesh.shape))
        return int(sizes[self.distribution.batch_dim_name])

    @property
    def devices(self):
        """The mesh's devices, as Keras names them (``"cpu:0"``, ``"tpu:3"``...)."""
        return [str(d) for d in self.distribution.device_mesh.devices.flatten()]

    @contextlib.contextmanager
    def scope(self):
        """The distribution's scope (re-entrant; the previous distribution comes back after)."""
        with self.distribution.scope():
            yield self

    def run(self, fn, args=(), kwargs=None):
        """``fn(*args, **kwargs)`` inside :meth:`scope` (SPMD: one call for all devices)."""
        with self.scope():
            return fn(*args, **(kwargs or {}))

    def __deepcopy__(self, memo):
        # one per distribution and process, like tf.distribute strategies (clone() copies params)
        return self

    def __repr__(self):
        return (
            f"KerasDistributionStrategy({type(self.distribution).__name__}, "
            f"{self.num_replicas_in_sync} replicas: {', '.join(self.devices)})"
        )


def is_keras_distribution(strategy):
    """Whether ``strategy`` is a :class:`KerasDistributionStrategy` (SPMD over a device mesh)."""
    return isinstance(strategy, KerasDistributionStrategy)


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
    if keras_backend() == "jax":
        return (DefaultStrategy, KerasDistributionStrategy)
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

    On Keras's JAX backend ``"auto"`` means ``"multiworker"`` when the
    environment describes a cluster of several processes
    (:func:`tfzoo.distribute.jax_multiworker.jax_cluster`), else ``"mirrored"``
    (``DataParallel``) when ``jax.devices()`` lists several devices (``"tpu"`` when they are TPU
    cores), else ``"default"``; on PyTorch it means ``"default"`` (one
    device). Another name is returned as asked (:func:`get_strategy` refuses
    the ones a backend does not have).
    """
    if spec is None:
        spec = "auto"
    if not isinstance(spec, str) or spec not in STRATEGY_NAMES:
        raise ValueError(
            f"strategy must be one of {STRATEGY_NAMES} or a tf.distribute.Strategy, got {spec!r}"
        )
    if spec != "auto":
        return spec, f"asked for {spec!r}"
    if keras_backend() == "jax":
        return _resolve_jax_auto()
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


def _resolve_jax_auto():
    from tfzoo.distribute.jax_multiworker import jax_cluster

    # A cluster comes before local devices, as on TensorFlow (and before JAX
    # starts: its distributed runtime must start first)
    cluster = jax_cluster()
    if cluster is not None and cluster.num_processes > 1:
        return "multiworker", f"Keras runs on 'jax' and {cluster.describe()}"
    import jax

    devices = jax.devices()
    platform = devices[0].platform
    if len(devices) > 1:
        name = "tpu" if platform == "tpu" else "mirrored"
        return name, f"Keras runs on 'jax', which sees {len(devices)} {platform} devices"
    return "default", f"Keras runs on 'jax', which sees one {platform} device"


def get_distribution(spec="auto"):
    """The ``keras.distribution.Distribution`` that ``spec`` means on Keras's JAX backend.

    The strategy names keep their meaning on JAX, resolved to
    ``keras.distribution`` (what Keras's maintainers recommend for
    multi-device training there) instead of ``tf.distribute``:

    - ``"auto"``: ``"mirrored"`` when ``jax.devices()`` lists several devices
      (``"tpu"`` when they are TPU cores), else ``"default"``;
    - ``"mirrored"``: ``keras.distribution.DataParallel`` over all local
      devices (``jax.devices()``); ``None`` when there is only one;
    - ``"default"``: ``None``, Keras's one-device default (no distribution);
    - ``"tpu"``: ``DataParallel`` over the TPU devices (``jax.devices("tpu")``);
    - ``"multiworker"``: JAX's distributed runtime started from the cluster the
      environment describes (``KERAS_DISTRIBUTION_JOB_ADDRESSES``,
      ``KERAS_DISTRIBUTION_NUM_PROCESSES``, ``KERAS_DISTRIBUTION_PROCESS_ID``,
      or ``TF_CONFIG``; :mod:`tfzoo.distribute.jax_multiworker`) with
      ``keras.distribution.initialize()``, then ``DataParallel`` over every
      process's devices. Each process runs the same program and feeds its
      share of every global batch (estimators and
      :func:`tfzoo.distribute.fit` cut NumPy data so);
    - ``"ps"``: TensorFlow-only (:class:`TensorFlowBackendRequired`).

    A ``keras.distribution.Distribution`` is returned as is, a
    :class:`KerasDistributionStrategy` gives its distribution and a
    :class:`DefaultStrategy` ``None``. The distribution for a set of devices is
    created once per process and reused. It logs what it chose and why
    (logger ``tfzoo.distribute``, level INFO). :func:`get_strategy` wraps the
    result for ``with strategy.scope():`` code.

    Raises:
        ValueError: for an unknown name.
        RuntimeError: off Keras's JAX backend (on TensorFlow use
            :func:`get_strategy`; ``keras.distribution`` on PyTorch is not
            supported by tfzoo), ``"tpu"`` where JAX sees no TPU, or
            ``"multiworker"`` with no cluster described or after JAX started
            computing in this process.
        ValueError: a cluster described incompletely or inconsistently.
        TensorFlowBackendRequired: ``"ps"``.
    """
    name = keras_backend()
    if name != "jax":
        hint = (
            "use tfzoo.distribute.get_strategy there (tf.distribute)"
            if name == "tensorflow"
            else "tfzoo does not support keras.distribution on this backend"
        )
        raise RuntimeError(
            "tfzoo.distribute.get_distribution needs Keras's JAX backend (KERAS_BACKEND=jax "
            f"before keras is imported), but this process runs Keras on the {name!r} "
            f"backend: {hint}."
        )
    if _is_distribution(spec):
        return spec
    if isinstance(spec, KerasDistributionStrategy):
        return spec.distribution
    if isinstance(spec, DefaultStrategy):
        return None
    name, reason = resolve_strategy_spec(spec)
    if name == "ps":
        require_tensorflow_backend(
            f"strategy={spec!r} (tf.distribute's ParameterServerStrategy; use "
            "'auto' or 'mirrored' on JAX)"
        )
    if name == "multiworker":
        return _multiworker_distribution(spec, reason)
    import jax

    if name == "tpu":
        try:
            devices = jax.devices("tpu")
        except RuntimeError as exc:
            raise RuntimeError(
                f"strategy={spec!r} but JAX sees no TPU ({exc}). On Colab choose a TPU "
                "runtime; on a TPU VM install jax[tpu]."
            ) from None
    elif name == "mirrored":
        devices = jax.devices()
    else:
        devices = []
    if len(devices) < 2 and name != "tpu":
        logger.info("strategy=%r -> default (%s; one device, no distribution)", spec, reason)
        return None
    logger.info(
        "strategy=%r -> keras.distribution.DataParallel over %d %s devices (%s)",
        spec,
        len(devices),
        devices[0].platform,
        reason,
    )
    return _data_parallel(tuple(devices))


def _multiworker_distribution(spec, reason):
    """``DataParallel`` over every process's devices, JAX's distributed runtime started first."""
    import jax

    from tfzoo.distribute import jax_multiworker

    how = jax_multiworker.initialize(spec)
    devices = jax.devices()  # every process's, once the runtime is up
    logger.info(
        "strategy=%r -> keras.distribution.DataParallel over %d %s devices of %d processes "
        "(%s; %s)",
        spec,
        len(devices),
        devices[0].platform,
        jax.process_count(),
        reason,
        how,
    )
    return _data_parallel(tuple(devices))


def _is_distribution(obj):
    """Whether ``obj`` is a ``keras.distribution`` distribution (``DataParallel``...)."""
    import keras

    # Keras exports the subclasses, not their base class
    return isinstance(obj, keras.distribution.DataParallel.__mro__[1])


@functools.cache
def _data_parallel(devices):
    import keras

    return keras.distribution.DataParallel(devices=list(devices))


@functools.cache
def _distribution_strategy(distribution):
    return KerasDistributionStrategy(distribution)


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

    On Keras's JAX backend the names resolve through :func:`get_distribution`:
    a ``keras.distribution`` distribution over several devices comes wrapped in
    a :class:`KerasDistributionStrategy` (one per distribution), one device
    gives the one :class:`DefaultStrategy`; a ``keras.distribution.Distribution``
    passed in is wrapped too. On PyTorch ``"auto"`` and ``"default"`` (and a
    :class:`DefaultStrategy`) give the one :class:`DefaultStrategy`; the
    other names and ``tf.distribute`` strategies need the TensorFlow backend.

    Raises:
        ValueError: for an unknown name.
        RuntimeError: ``"tpu"`` where no TPU can be reached (at once, no waiting).
        TensorFlowBackendRequired: a TensorFlow-only strategy off the TensorFlow
            backend.
        RuntimeError: ``"multiworker"`` on JAX without a cluster (see
            :func:`get_distribution`).
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
    if isinstance(spec, (DefaultStrategy, KerasDistributionStrategy)):
        return spec
    if spec is None:
        spec = "auto"
    if keras_backend() == "jax":
        if _is_distribution(spec) or (isinstance(spec, str) and spec in STRATEGY_NAMES):
            distribution = get_distribution(spec)
            if distribution is None:
                return _default_strategy()
            return _distribution_strategy(distribution)
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
