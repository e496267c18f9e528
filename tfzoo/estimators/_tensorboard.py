"""Keras's TensorBoard callback, plus the model graph that Keras 3 no longer writes.

Keras 3's ``TensorBoard(write_graph=True)`` only writes a graph when
``model.train_function`` is itself a ``tf.function``; on the TensorFlow
backend it is a Python wrapper, so no graph reaches TensorBoard's Graphs tab.
This subclass traces the model's forward pass once at the start of training
and writes that graph to the ``train`` run.

On JAX and torch Keras's callback writes its scalars through TensorFlow's
summary writer too (TensorFlow must be installed for ``tensorboard_dir``;
:func:`check_tensorboard_available` says so first); the graph is a
TensorFlow graph, so it is written on the TensorFlow backend only.
"""

from __future__ import annotations

import keras

from tfzoo._backend import tensorflow as tf


class TensorBoard(keras.callbacks.TensorBoard):
    """``keras.callbacks.TensorBoard`` that also writes the model's graph."""

    def __init__(self, *args, **kwargs):
        check_tensorboard_available()
        super().__init__(*args, **kwargs)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.write_graph and keras.backend.backend() == "tensorflow":
            self._write_forward_graph()

    def _write_forward_graph(self):
        inputs = getattr(self.model, "inputs", None)
        image_shape = getattr(self.model, "image_shape", None)
        if inputs:
            specs = [tf.TensorSpec(t.shape, t.dtype) for t in inputs]
        elif image_shape:  # a subclassed image model (Mask R-CNN) declares its input
            specs = [tf.TensorSpec((None, *image_shape), tf.float32)]
        else:  # subclassed model never called symbolically: nothing to trace
            return
        model = self.model

        @tf.function
        def forward(*xs):
            return model(xs[0] if len(xs) == 1 else list(xs), training=False)

        graph = forward.get_concrete_function(*specs).graph
        with self._train_writer.as_default():
            tf.summary.graph(graph)


def check_tensorboard_available():
    """Raise an ImportError naming what to install when TensorBoard's writer is missing."""
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:
        raise ImportError(
            "tensorboard_dir needs TensorFlow's summary writer, which Keras uses for its "
            f"TensorBoard logs on every backend (this process runs {keras.backend.backend()!r}); "
            "TensorFlow is not installed: pip install tensorflow-cpu, or set tensorboard_dir=None."
        )
