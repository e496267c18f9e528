"""Shared test helpers: every tfzoo layer test goes through ``run_layer_test``."""

from tfzoo.testing.layer_test import (
    check_mirrored,
    configure_logical_cpus,
    run_layer_test,
)

__all__ = ["check_mirrored", "configure_logical_cpus", "run_layer_test"]
