"""Distribution strategies, Keras fixes for distributed fit, and device placement.

``tf.distribute`` is TensorFlow's. On Keras's JAX and PyTorch backends
``get_strategy("auto"|"default")`` gives a one-device :class:`DefaultStrategy`,
``fit`` and ``BackupAndRestore`` work, and the TensorFlow-only features
(the other strategies, ``fit_ps``, ``ps_strategy``, ``serve``,
``StagedModel``, ``logical_devices``) raise :class:`TensorFlowBackendRequired`.
"""

from tfzoo._backend import TensorFlowBackendRequired
from tfzoo.distribute.fault_tolerance import BackupAndRestore, task_name
from tfzoo.distribute.parameter_server import fit_ps, ps_strategy, serve
from tfzoo.distribute.placement import StagedModel, logical_devices
from tfzoo.distribute.strategy import (
    DefaultStrategy,
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
    "StagedModel",
    "TensorFlowBackendRequired",
    "fit",
    "fit_ps",
    "get_strategy",
    "install_keras_fixes",
    "logical_devices",
    "ps_strategy",
    "resolve_strategy_spec",
    "serve",
    "task_name",
    "tf_config_workers",
    "tpu_address",
]
