"""Distribution strategies, Keras fixes for distributed fit, and device placement."""

from tfzoo.distribute.fault_tolerance import BackupAndRestore, task_name
from tfzoo.distribute.placement import StagedModel, logical_devices
from tfzoo.distribute.strategy import (
    get_strategy,
    resolve_strategy_spec,
    tf_config_workers,
    tpu_address,
)

__all__ = [
    "BackupAndRestore",
    "StagedModel",
    "get_strategy",
    "logical_devices",
    "resolve_strategy_spec",
    "task_name",
    "tf_config_workers",
    "tpu_address",
]
