"""Seed a fit without leaving global random state changed.

``keras.utils.set_random_seed`` seeds Python, NumPy, TensorFlow and Keras's
global seed generator for the rest of the process. An estimator's
``random_state`` must only govern its own fit, so :func:`seeded` saves all of
that state, seeds it, and puts every piece back afterwards. TensorFlow's
op-determinism switch is never touched.
"""

from __future__ import annotations

import contextlib
import random

import keras
import numpy as np
from keras.src.backend.common import global_state

from tfzoo._backend import tensorflow as tf

_KERAS_SEED_ATTRS = ("global_random_seed", "global_seed_generator")


def as_seed(random_state):
    """An int seed from ``None`` / int / ``np.random.RandomState`` (None stays None)."""
    if random_state is None:
        return None
    if isinstance(random_state, (np.random.RandomState, np.random.Generator)):
        if isinstance(random_state, np.random.Generator):
            return int(random_state.integers(0, 2**31 - 1))
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return int(random_state) % (2**31 - 1)
    raise ValueError(
        f"random_state must be None, an int or a numpy RandomState, got {random_state!r}"
    )


def global_random_state():
    """A snapshot of the global seeds that tfzoo must leave as found (for tests)."""
    from tensorflow.python.eager import context as tf_context
    from tensorflow.python.framework import config as tf_config

    ctx = tf_context.context()
    return {
        "tf_global_seed": tf_context.global_seed(),
        # TF exports enable/disable_op_determinism but not the query.
        "op_determinism": tf_config.is_op_determinism_enabled(),
        "keras_seed": global_state.get_global_attribute("global_random_seed"),
        "python_random": random.getstate(),
        "numpy_random": np.random.get_state(legacy=False),
        "tf_rng": getattr(ctx, "_rng", None),
    }


@contextlib.contextmanager
def seeded(random_state):
    """Seed Python, NumPy, TF and Keras inside the block; restore them after.

    With ``random_state=None`` nothing is seeded and nothing is changed.
    """
    seed = as_seed(random_state)
    if seed is None:
        yield None
        return
    from tensorflow.python.eager import context as tf_context

    ctx = tf_context.context()
    saved_tf_seed = tf_context.global_seed()
    saved_tf_rng = getattr(ctx, "_rng", None)
    saved_python = random.getstate()
    saved_numpy = np.random.get_state()
    saved_keras = {name: global_state.get_global_attribute(name) for name in _KERAS_SEED_ATTRS}
    keras.utils.set_random_seed(seed)
    try:
        yield seed
    finally:
        tf.random.set_seed(saved_tf_seed)
        if saved_tf_rng is not None and hasattr(ctx, "_rng"):
            # set_seed made a fresh generator; put back the one in use before,
            # so a seeded user program continues its own sequence of op seeds.
            ctx._rng = saved_tf_rng
        random.setstate(saved_python)
        np.random.set_state(saved_numpy)
        for name, value in saved_keras.items():
            global_state.set_global_attribute(name, value)
