"""Reusable Keras layers (``keras.ops`` only, serializable)."""

from tfzoo.layers.linear import Linear
from tfzoo.layers.perceptron import Perceptron

__all__ = ["Linear", "Perceptron"]
