"""Reusable Keras layers (``keras.ops`` only, serializable)."""

from tfzoo.layers.conv_block import ConvBlock
from tfzoo.layers.linear import Linear
from tfzoo.layers.lstm_encoder import LSTMEncoder
from tfzoo.layers.perceptron import Perceptron

__all__ = ["ConvBlock", "LSTMEncoder", "Linear", "Perceptron"]
