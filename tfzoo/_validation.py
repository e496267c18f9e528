"""Argument checks and factories shared across tfzoo's subpackages (private).

One rule per kind of argument, with one wording, instead of a copy per module:

* :func:`check_int`: a count (units, layers, samples...): a Python or NumPy
  integer, not a bool, not a float (``2.0`` and ``2.5`` are both refused),
  at least ``minimum``. The message says what was received:
  ``"units must be a positive integer, got 0"``.
* :func:`make_optimizer`: a fresh Keras optimizer from a name, a class or an
  instance (whose whole configuration is kept), with the learning rate and
  any other setting given on top.
"""

from __future__ import annotations

import numbers

import numpy as np


def check_int(value, name, *, minimum=1):
    """``int(value)`` when ``value`` is an integer ``>= minimum``, else ``ValueError``."""
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Integral)
        or value < minimum
    ):
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def make_optimizer(optimizer, learning_rate=None, **overrides):
    """A new Keras optimizer (nothing is shared with ``optimizer``).

    Args:
        optimizer: a name (``"adam"``, ``"sgd"``...), an optimizer class, or an
            optimizer instance, whose configuration (``beta_1``, ``clipnorm``,
            ``weight_decay``...) the new one keeps.
        learning_rate: replaces the optimizer's learning rate when not None
            (a float or a ``keras.optimizers.schedules.LearningRateSchedule``).
        **overrides: other settings to replace (``clipnorm=1.0``...); None
            values are ignored.
    """
    import keras

    settings = {k: v for k, v in overrides.items() if v is not None}
    if learning_rate is not None:
        settings["learning_rate"] = learning_rate
    if isinstance(optimizer, keras.optimizers.Optimizer):
        cls, config = type(optimizer), optimizer.get_config()
    elif isinstance(optimizer, type) and issubclass(optimizer, keras.optimizers.Optimizer):
        cls, config = optimizer, {}
    elif isinstance(optimizer, str):
        instance = keras.optimizers.get(optimizer)
        cls, config = type(instance), instance.get_config()
    else:
        raise ValueError(
            "optimizer must be a name ('adam', 'sgd', ...), a keras optimizer class "
            f"or instance, got {optimizer!r}"
        )
    config.update(settings)
    # from_config deserializes a schedule given as a config dict and takes a
    # schedule object (or a float) as is.
    return cls.from_config(config)
