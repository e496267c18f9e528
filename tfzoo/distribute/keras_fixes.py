"""The one place where tfzoo patches Keras internals (Keras 3 TensorFlow trainer).

Two upstream bugs break ``model.fit`` under ``tf.distribute`` (keras-team/keras#20585):

1. ``TensorFlowTrainer._maybe_symbolic_build`` builds the model from the
   first batch after asking the strategy to *reduce* the whole nested batch
   (``strategy.reduce("MEAN", batch)``). Under ``MultiWorkerMirroredStrategy``
   that fails ("PerReplica cannot be converted to a Tensor"); under
   ``MirroredStrategy`` it fails whenever the global batch does not split
   evenly across replicas (``AddN ... must have the same size and shape``).
   Only the shapes matter for a symbolic build, so the dataset's element
   spec is enough: that is the fix. (Drawing a batch instead would advance a
   reshuffling dataset, and the distributed fit would train on other batches
   than the same fit on one device.)
2. ``reduce_per_replica`` reduces metric values across workers with
   ``strategy.reduce("MEAN", v, axis=0)``, which fails for the scalar loss
   and metrics; scalars need ``axis=None``.

:func:`install` (public as :func:`tfzoo.distribute.install_keras_fixes`)
installs both fixes once per process, only on Keras versions where the
original code is the code checked here (``KERAS_RANGE``) and only while that
code still contains the lines the fixes replace (:func:`upstream_still_broken`).
Every tfzoo path to a non-default strategy calls it (``get_strategy``,
``mirrored_strategy`` and with it ``tfzoo.testing.run_layer_test``), so the
patch state does not depend on which of them a process uses first. The test
``tests/distribute/test_keras_fixes.py`` fails loudly when upstream changes
that code, so the fix is re-examined rather than silently applied.

A third bug has no patch here: Keras's multi-step training loop
(``steps_per_execution > 1``: ``get_next_as_optional`` inside a
``tf.while_loop`` and ``tf.cond``) fails under
``MultiWorkerMirroredStrategy`` on a real cluster ("You must feed a value for
placeholder tensor ... with dtype int32" in ``multi_step_on_iterator``, Keras
3.15, TF 2.21). :func:`steps_per_execution` gives the value to compile with:
1 under that strategy, where every step waits for a cross-worker all-reduce
anyway, so running one step per call costs little.

All of this is Keras's TensorFlow trainer: off the TensorFlow backend
:func:`install` patches nothing and returns ``False``, and TensorFlow is not
imported.

One fix is for the other backends, and it is scoped, not installed:
Keras's type promotion (``keras.src.backend.common.dtypes``) maps float64 to
float32 on every backend but TensorFlow, to follow JAX's default without
64-bit types, and several of its JAX and torch ops cast their operands to
the promoted type: a layer built with ``dtype="float64"`` then computes parts
of its call in float32 (its matrix products on torch), whatever the user asked
for. :func:`float64_promotion` lets float64 stay float64 inside a block; the
estimators' float64 prediction copy runs in it. It is guarded like the
patches above (``tests/distribute/test_keras_fixes.py``).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import warnings

import keras
from keras.src import tree

from tfzoo._backend import is_tensorflow_backend, require_tensorflow_backend
from tfzoo._backend import tensorflow as tf

logger = logging.getLogger("tfzoo.distribute")

#: Keras versions whose trainer code was read and patched here (inclusive range).
KERAS_RANGE = ((3, 10), (3, 15))

#: Lines of upstream code whose presence means the bug is still there.
UPSTREAM_MARKERS = {
    "_maybe_symbolic_build": "data_batch = self.distribute_strategy.reduce(",
    "reduce_per_replica": 'return strategy.reduce("MEAN", v, axis=0)',
}

_applied = False
_original = {}


#: Keras's 64-to-32-bit promotion table, and what it maps float64 to off TensorFlow.
_PROMOTION_TABLE = "BIT64_TO_BIT32_DTYPE"
_float64_depth = 0


def promotion_truncates_float64():
    """Whether Keras's promotion still maps float64 to float32 here (the fix's premise)."""
    from keras.src.backend.common import dtypes

    table = getattr(dtypes, _PROMOTION_TABLE, None)
    return isinstance(table, dict) and table.get("float64") == "float32"


@contextlib.contextmanager
def float64_promotion():
    """Keras's ops promote float64 to float64 inside the block (JAX, torch).

    Does nothing on TensorFlow (its promotion keeps float64), or where the
    table no longer truncates float64 (then nothing needs fixing). Re-entrant;
    the table is put back when the outermost block ends. On JAX, 64-bit types
    must be on as well (``jax.enable_x64``).
    """
    global _float64_depth
    if is_tensorflow_backend() or (_float64_depth == 0 and not promotion_truncates_float64()):
        yield
        return
    from keras.src.backend.common import dtypes

    table = getattr(dtypes, _PROMOTION_TABLE)
    _float64_depth += 1
    table["float64"] = "float64"
    try:
        yield
    finally:
        _float64_depth -= 1
        if _float64_depth == 0:
            table["float64"] = "float32"


def keras_version():
    return tuple(int(p) for p in keras.__version__.split(".")[:2])


def _tf_trainer():
    """Keras's TensorFlow trainer module (imports TensorFlow)."""
    require_tensorflow_backend("tfzoo.distribute.keras_fixes")
    from keras.src.backend.tensorflow import trainer

    return trainer


def upstream_still_broken():
    """Whether the upstream functions still contain the code the fixes replace."""
    tf_trainer = _tf_trainer()
    sources = {
        "_maybe_symbolic_build": inspect.getsource(
            _original.get(
                "_maybe_symbolic_build", tf_trainer.TensorFlowTrainer._maybe_symbolic_build
            )
        ),
        "reduce_per_replica": inspect.getsource(
            _original.get("reduce_per_replica", tf_trainer.reduce_per_replica)
        ),
    }
    return {name: marker in sources[name] for name, marker in UPSTREAM_MARKERS.items()}


def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    if self._distribute_strategy is None:
        return
    if iterator is not None:
        # Shapes and dtypes are all a symbolic build needs: take them from the
        # dataset's element spec. Reducing a batch across replicas fails, and
        # drawing one from the iterator also advances a reshuffling dataset
        # by an epoch, so a distributed fit would see other batches than the
        # same fit on one device.
        data_batch = iterator.data_adapter.get_tf_dataset().element_spec
    with self.distribute_strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def _reduce_per_replica(values, strategy, reduction):
    original = _original["reduce_per_replica"]
    tf_trainer = _tf_trainer()
    if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):
        if reduction == "auto" and isinstance(strategy, tf.distribute.TPUStrategy):
            return original(values, strategy, reduction)

        def _reduce(v):
            rank = (
                v.values[0].shape.rank if tf_trainer._is_per_replica_instance(v) else v.shape.rank
            )
            return strategy.reduce("MEAN", v, axis=None if rank == 0 else 0)

        return tree.map_structure(_reduce, values)
    return original(values, strategy, reduction)


def steps_per_execution(strategy, requested):
    """``requested``, or 1 under ``MultiWorkerMirroredStrategy`` (see the module docstring)."""
    if not is_tensorflow_backend():
        import keras

        # Keras's torch trainer runs one step per call and refuses more.
        return 1 if keras.backend.backend() == "torch" else requested
    if requested > 1 and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        logger.info(
            "steps_per_execution=%d -> 1 under MultiWorkerMirroredStrategy "
            "(Keras's multi-step loop fails there)",
            requested,
        )
        return 1
    return requested


def install():
    """Install the fixes once (idempotent). Returns True when they are in place.

    Nothing is patched outside ``KERAS_RANGE`` (a ``RuntimeWarning`` says so)
    or when the upstream code no longer has the lines the fixes replace, nor
    off the TensorFlow backend (``False``: there is no TensorFlow trainer to mend).
    """
    global _applied
    if _applied:
        return True
    if not is_tensorflow_backend():
        return False
    version = keras_version()
    if not (KERAS_RANGE[0] <= version <= KERAS_RANGE[1]):
        warnings.warn(
            f"tfzoo's Keras distribution fixes were written for Keras "
            f"{KERAS_RANGE[0]}-{KERAS_RANGE[1]}, found {keras.__version__}; not applied. "
            "Multi-worker fit may fail if upstream has not fixed keras-team/keras#20585.",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    broken = upstream_still_broken()
    if not all(broken.values()):
        warnings.warn(
            f"Keras {keras.__version__} no longer has the code tfzoo's distribution fixes "
            f"replace ({broken}); not applied.",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    tf_trainer = _tf_trainer()
    _original["_maybe_symbolic_build"] = tf_trainer.TensorFlowTrainer._maybe_symbolic_build
    _original["reduce_per_replica"] = tf_trainer.reduce_per_replica
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    tf_trainer.reduce_per_replica = _reduce_per_replica
    _applied = True
    return True


#: The former name of :func:`install`.
apply = install


def is_applied():
    """Whether the fixes are installed in this process."""
    return _applied
