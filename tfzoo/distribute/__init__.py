"""Distribution strategies, Keras fixes for distributed fit, and device placement."""

from tfzoo.distribute.placement import StagedModel, logical_devices
from tfzoo.distribute.strategy import (
    get_strategy,
    resolve_strategy_spec,
    tf_config_workers,
    tpu_address,
)

__all__ = [
    "StagedModel",
    "get_strategy",
    "logical_devices",
    "resolve_strategy_spec",
    "tf_config_workers",
    "tpu_address",
]
