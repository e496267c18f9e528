"""Resolve a distribution strategy from a string (or pass one through)."""

from __future__ import annotations

import functools
import logging

import tensorflow as tf

logger = logging.getLogger("tfzoo.distribute")

STRATEGY_NAMES = ("auto", "default", "mirrored")


def get_strategy(spec="auto"):
    """Return a ``tf.distribute.Strategy`` for ``spec``.

    Args:
        spec: ``"auto"`` (the default strategy on a plain machine; all GPUs
            with ``MirroredStrategy`` when more than one is visible),
            ``"default"``, ``"mirrored"``, or a ``tf.distribute.Strategy``
            (returned as is).

    Raises:
        ValueError: for an unknown name.
    """
    if isinstance(spec, tf.distribute.Strategy):
        return spec
    if spec is None:
        spec = "auto"
    if not isinstance(spec, str) or spec not in STRATEGY_NAMES:
        raise ValueError(
            f"strategy must be one of {STRATEGY_NAMES} or a tf.distribute.Strategy, got {spec!r}"
        )
    if spec == "default":
        return tf.distribute.get_strategy()
    if spec == "mirrored":
        return mirrored_strategy(_local_devices())
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        logger.info("strategy='auto': %d GPUs visible, using MirroredStrategy", len(gpus))
        return mirrored_strategy(_local_devices())
    logger.info("strategy='auto': no TPU, at most one GPU; using the default strategy")
    return tf.distribute.get_strategy()


def _local_devices():
    """The devices MirroredStrategy would pick: all GPUs, else all logical CPUs."""
    gpus = tf.config.list_logical_devices("GPU")
    devices = gpus or tf.config.list_logical_devices("CPU")
    return tuple(d.name for d in devices)


@functools.cache
def mirrored_strategy(devices):
    """The process's one ``MirroredStrategy`` over ``devices`` (a tuple of names)."""
    # One MirroredStrategy per device set and process: two strategies over the
    # same devices reuse collective instance keys, and training with the
    # second then fails with "Shape mismatch in the collective instance"
    # (seen with TF 2.21 on logical CPUs). Reusing the strategy avoids it and
    # keeps clone()+fit() in grid searches working.
    return tf.distribute.MirroredStrategy(list(devices))
