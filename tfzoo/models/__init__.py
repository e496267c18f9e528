"""Model builders: one ``build_*`` function per model, returning an uncompiled model."""

from tfzoo.models.linear_regression import (
    NormalEquationsSolution,
    NormalEquationStats,
    RankDeficientWarning,
    build_linear_regression,
    fit_normal_equations,
)
from tfzoo.models.lstm import (
    CharSampler,
    build_char_rnn,
    build_lstm_classifier,
    build_lstm_forecaster,
)
from tfzoo.models.mask_rcnn import MaskRCNN, build_mask_rcnn
from tfzoo.models.mask_rcnn_transfer import TransferReport, transfer_mask_rcnn
from tfzoo.models.perceptron import build_perceptron
from tfzoo.models.recommender import build_embedding_recommender
from tfzoo.models.small_cnn import build_small_cnn

__all__ = [
    "CharSampler",
    "MaskRCNN",
    "NormalEquationStats",
    "NormalEquationsSolution",
    "RankDeficientWarning",
    "TransferReport",
    "build_char_rnn",
    "build_embedding_recommender",
    "build_linear_regression",
    "build_lstm_classifier",
    "build_lstm_forecaster",
    "build_mask_rcnn",
    "build_perceptron",
    "build_small_cnn",
    "fit_normal_equations",
    "transfer_mask_rcnn",
]
