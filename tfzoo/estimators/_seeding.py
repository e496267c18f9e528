"""Seed a fit without leaving global random state changed.

``keras.utils.set_random_seed`` seeds Python, NumPy, Keras's global seed
generator, TensorFlow (whenever it is installed, whatever the backend) and
PyTorch (on the torch backend) for the rest of the process. An estimator's
``random_state`` must only govern its own fit, so :func:`seeded` saves that
state, seeds it, and puts every piece back afterwards, on every backend:

- TensorFlow backend: TensorFlow's global seed and its op-seed generator
  (TensorFlow's op-determinism switch is never touched);
- torch backend: torch's CPU generator (and every CUDA device's, when there
  are any);
- JAX backend: nothing beyond Keras's own state, which is all that Keras's
  random ops on JAX draw from (JAX itself has no global generator).

Off the TensorFlow backend TensorFlow is neither imported nor seeded: when
it is installed beside JAX or torch, Keras's ``set_random_seed`` would
import it (5 s) only to seed generators that a JAX or torch fit never uses.
"""

from __future__ import annotations

import contextlib
import random

import keras
import numpy as np
from keras.src.backend.common import global_state

from tfzoo._backend import backend as _backend

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


def _torch_states():
    import torch

    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    return torch.get_rng_state(), cuda


def global_random_state():
    """A snapshot of the global seeds that tfzoo must leave as found (for tests)."""
    state = {
        "keras_seed": global_state.get_global_attribute("global_random_seed"),
        "keras_seed_generator": global_state.get_global_attribute("global_seed_generator"),
        "python_random": random.getstate(),
        "numpy_random": np.random.get_state(legacy=False),
    }
    if _backend() == "tensorflow":
        from tensorflow.python.eager import context as tf_context
        from tensorflow.python.framework import config as tf_config

        ctx = tf_context.context()
        state.update(
            tf_global_seed=tf_context.global_seed(),
            # TF exports enable/disable_op_determinism but not the query.
            op_determinism=tf_config.is_op_determinism_enabled(),
            tf_rng=getattr(ctx, "_rng", None),
        )
    elif _backend() == "torch":
        cpu, cuda = _torch_states()
        state["torch_cpu"] = cpu.numpy().tobytes()
        state["torch_cuda"] = None if cuda is None else [s.numpy().tobytes() for s in cuda]
    return state


def _seed_everything(seed):
    """What ``keras.utils.set_random_seed`` does, without TensorFlow off its backend."""
    if _backend() == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    global_state.set_global_attribute("global_random_seed", seed)
    global_state.set_global_attribute("global_seed_generator", None)  # rebuilt from the seed
    random.seed(seed)
    np.random.seed(seed)
    if _backend() == "torch":
        import torch

        torch.manual_seed(seed)


@contextlib.contextmanager
def seeded(random_state):
    """Seed Python, NumPy, Keras and the backend inside the block; restore them after.

    With ``random_state=None`` nothing is seeded and nothing is changed.
    """
    seed = as_seed(random_state)
    if seed is None:
        yield None
        return
    saved_python = random.getstate()
    saved_numpy = np.random.get_state()
    saved_keras = {name: global_state.get_global_attribute(name) for name in _KERAS_SEED_ATTRS}
    restore_backend = _save_backend_state()
    _seed_everything(seed)
    try:
        yield seed
    finally:
        restore_backend()
        random.setstate(saved_python)
        np.random.set_state(saved_numpy)
        for name, value in saved_keras.items():
            global_state.set_global_attribute(name, value)


def _save_backend_state():
    """Save the backend's own generators; return the function that restores them."""
    name = _backend()
    if name == "tensorflow":
        import tensorflow as tf
        from tensorflow.python.eager import context as tf_context

        ctx = tf_context.context()
        saved_seed = tf_context.global_seed()
        saved_rng = getattr(ctx, "_rng", None)

        def restore():
            tf.random.set_seed(saved_seed)
            if saved_rng is not None and hasattr(ctx, "_rng"):
                # set_seed made a fresh generator; put back the one in use before,
                # so a seeded user program continues its own sequence of op seeds.
                ctx._rng = saved_rng

        return restore
    if name == "torch":
        import torch

        cpu, cuda = _torch_states()

        def restore():
            torch.set_rng_state(cpu)
            if cuda is not None:
                torch.cuda.set_rng_state_all(cuda)

        return restore
    return lambda: None


def state_differences(before, after, keys=None):
    """The keys of two :func:`global_random_state` snapshots whose values differ (for tests).

    Generators (TensorFlow's op-seed generator, Keras's global seed generator)
    must be the very same objects; everything else equal in value.
    """
    different = []
    for key in before if keys is None else keys:
        if key not in before:
            continue
        a, b = before[key], after.get(key)
        if key in ("tf_rng", "keras_seed_generator"):
            same = a is b
        elif key == "numpy_random":
            same = a["state"]["pos"] == b["state"]["pos"] and np.array_equal(
                a["state"]["key"], b["state"]["key"]
            )
        else:
            same = a == b
        if not same:
            different.append(key)
    return different
