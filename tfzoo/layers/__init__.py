"""Reusable Keras layers, all serializable.

The seed's layers use ``keras.ops`` only and run on every Keras backend
(``FusedLSTM``'s fused loop is TensorFlow's, with Keras's LSTM elsewhere).
"""

from tfzoo.layers.conv_block import ConvBlock
from tfzoo.layers.detection import (
    AnchorGenerator,
    BoxHead,
    MaskRCNNHead,
    ProposalLayer,
    RPNHead,
)
from tfzoo.layers.detection_targets import RoISampler, RPNTargets
from tfzoo.layers.fused_lstm import FusedLSTM
from tfzoo.layers.linear import Linear
from tfzoo.layers.lstm_encoder import LSTMEncoder
from tfzoo.layers.matrix_factorization import MatrixFactorization
from tfzoo.layers.perceptron import Perceptron
from tfzoo.layers.roi_align import RoIAlign

__all__ = [
    "AnchorGenerator",
    "BoxHead",
    "ConvBlock",
    "FusedLSTM",
    "LSTMEncoder",
    "Linear",
    "MaskRCNNHead",
    "MatrixFactorization",
    "Perceptron",
    "ProposalLayer",
    "RPNHead",
    "RPNTargets",
    "RoIAlign",
    "RoISampler",
]
