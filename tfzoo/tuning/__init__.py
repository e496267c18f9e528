"""keras-tuner hypermodels, one per builder."""

from tfzoo.tuning.hypermodels import (
    CharRNNHyperModel,
    EmbeddingRecommenderHyperModel,
    LinearRegressionHyperModel,
    LSTMClassifierHyperModel,
    LSTMForecasterHyperModel,
    MaskRCNNHyperModel,
    PerceptronHyperModel,
    SmallCNNHyperModel,
)
from tfzoo.tuning.search import TunedClassifier, TunedRegressor
from tfzoo.tuning.tuners import make_tuner

__all__ = [
    "CharRNNHyperModel",
    "EmbeddingRecommenderHyperModel",
    "LSTMClassifierHyperModel",
    "LSTMForecasterHyperModel",
    "LinearRegressionHyperModel",
    "MaskRCNNHyperModel",
    "PerceptronHyperModel",
    "SmallCNNHyperModel",
    "TunedClassifier",
    "TunedRegressor",
    "make_tuner",
]
