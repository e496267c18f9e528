"""Backend-neutral test helpers: NumPy copies, gradients, a compiled call, float64.

The unit tests in tests/layers and tests/models run on Keras's TensorFlow, JAX and
PyTorch backends; these helpers do per backend what ``tf.GradientTape``,
``tf.function(jit_compile=True)`` and ``.numpy()`` do on TensorFlow.
"""

import contextlib

import keras

BACKEND = keras.backend.backend()
#: Whether ``jit_compile=True`` means XLA (TensorFlow, JAX). On PyTorch it means
#: ``torch.compile``, another feature: the tests train eagerly there.
XLA = BACKEND in ("tensorflow", "jax")


def to_numpy(x):
    """A NumPy copy of a tensor (or a nested structure of them) of any backend."""
    return keras.tree.map_structure(keras.ops.convert_to_numpy, x)


def gradients(fn, inputs=(), variables=()):
    """``fn(*inputs)``'s value and its gradients, as NumPy.

    Args:
        fn: called with the ``inputs`` as tensors; returns ``(loss, aux)``, a scalar
            loss and any structure of tensors to return alongside.
        inputs: arrays to differentiate with respect to (passed to ``fn``).
        variables: Keras variables ``fn`` reads, also differentiated.

    Returns:
        ``(loss, aux, grads)``: NumPy copies of the loss and ``aux`` and the list of
        gradients, one per input then one per variable.
    """
    variables = list(variables)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        xs = [tf.convert_to_tensor(x) for x in inputs]
        with tf.GradientTape() as tape:
            tape.watch(xs)
            loss, aux = fn(*xs)
        grads = tape.gradient(loss, [*xs, *variables])
    elif BACKEND == "jax":
        import jax

        def pure(xs, values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                loss, aux = fn(*xs)
            return loss, aux

        xs = [keras.ops.convert_to_tensor(x) for x in inputs]
        (loss, aux), (gx, gv) = jax.value_and_grad(pure, argnums=(0, 1), has_aux=True)(
            xs, [v.value for v in variables]
        )
        grads = [*gx, *gv]
    elif BACKEND == "torch":
        import torch

        xs = [keras.ops.convert_to_tensor(x).detach().requires_grad_(True) for x in inputs]
        loss, aux = fn(*xs)
        grads = torch.autograd.grad(loss, [*xs, *(v.value for v in variables)])
    else:  # pragma: no cover
        raise NotImplementedError(f"no gradient helper for the {BACKEND!r} backend")
    return to_numpy(loss), to_numpy(aux), [to_numpy(g) for g in grads]


def compiled(fn):
    """``fn`` compiled as each backend compiles a step: XLA on TensorFlow, ``jax.jit``.

    On PyTorch, ``fn`` itself (Keras's torch backend runs steps eagerly by default).
    ``fn`` must not change any variable (a layer's inference or a pure function).
    """
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    if BACKEND == "jax":
        import jax

        return jax.jit(fn)
    return fn


def float64():
    """The block in which float64 stays float64 (JAX: ``jax.enable_x64``, thread-local)."""
    if BACKEND == "jax":
        import jax

        return jax.enable_x64(True)
    return contextlib.nullcontext()
