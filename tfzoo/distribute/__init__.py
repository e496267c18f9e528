"""Distribution strategies, Keras fixes for distributed fit, and device placement.

``tf.distribute`` is TensorFlow's. On Keras's JAX backend the strategy names
resolve to ``keras.distribution`` (:func:`get_distribution`): ``"auto"`` and
``"mirrored"`` to ``DataParallel`` over all local devices when JAX sees
several, which :func:`get_strategy` wraps in a
:class:`KerasDistributionStrategy` (one device: :class:`DefaultStrategy`);
``"multiworker"`` to ``DataParallel`` over the devices of every process of
the cluster that ``KERAS_DISTRIBUTION_*`` or ``TF_CONFIG`` describes
(:mod:`tfzoo.distribute.jax_multiworker`).
On PyTorch ``get_strategy("auto"|"default")`` gives a one-device
:class:`DefaultStrategy`. On both, ``fit`` and ``BackupAndRestore`` work,
and the TensorFlow-only features (``"ps"``, the other strategies on PyTorch,
``fit_ps``, ``ps_strategy``, ``serve``, ``StagedModel``,
``logical_devices``) raise :class:`TensorFlowBackendRequired`. Model
parallelism on JAX: :func:`get_model_parallel` gives a
``keras.distribution.ModelParallel`` whose :func:`layout_map` splits tfzoo's
builders' large variables over a ``"model"`` mesh axis (see
:mod:`tfzoo.distribute.layouts`).
"""

from tfzoo._backend import TensorFlowBackendRequired
from tfzoo.distribute.fault_tolerance import BackupAndRestore, task_name
from tfzoo.distribute.layouts import get_model_parallel, layout_map
from tfzoo.distribute.parameter_server import fit_ps, ps_strategy, serve
from tfzoo.distribute.placement import StagedModel, logical_devices
from tfzoo.distribute.strategy import (
    DefaultStrategy,
    KerasDistributionStrategy,
    get_distribution,
    get_strategy,
    install_keras_fixes,
    resolve_strategy_spec,
    tf_config_workers,
    tpu_address,
)
from tfzoo.distribute.training import fit

__all__ = [
    "BackupAndRestore",
    "DefaultStrategy",
    "KerasDistributionStrategy",
    "StagedModel",
    "TensorFlowBackendRequired",
    "fit",
    "fit_ps",
    "get_distribution",
    "get_model_parallel",
    "get_strategy",
    "install_keras_fixes",
    "layout_map",
    "logical_devices",
    "ps_strategy",
    "resolve_strategy_spec",
    "serve",
    "task_name",
    "tf_config_workers",
    "tpu_address",
]
