"""keras-tuner hypermodels, one per builder."""

from tfzoo.tuning.hypermodels import (
    CharRNNHyperModel,
    LinearRegressionHyperModel,
    LSTMClassifierHyperModel,
    LSTMForecasterHyperModel,
    PerceptronHyperModel,
    SmallCNNHyperModel,
)
from tfzoo.tuning.search import TunedClassifier, TunedRegressor

__all__ = [
    "CharRNNHyperModel",
    "LSTMClassifierHyperModel",
    "LSTMForecasterHyperModel",
    "LinearRegressionHyperModel",
    "PerceptronHyperModel",
    "SmallCNNHyperModel",
    "TunedClassifier",
    "TunedRegressor",
]
