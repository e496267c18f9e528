"""scikit-learn estimators on tfzoo models (fit/predict, pipelines, grid search)."""

from tfzoo.estimators.cnn import CNNClassifier
from tfzoo.estimators.keras import KerasClassifier, KerasRegressor
from tfzoo.estimators.linear import LinearRegressor
from tfzoo.estimators.lstm import LSTMClassifier, LSTMRegressor, TextGenerator
from tfzoo.estimators.perceptron import PerceptronClassifier, PerceptronRegressor

__all__ = [
    "CNNClassifier",
    "KerasClassifier",
    "KerasRegressor",
    "LSTMClassifier",
    "LSTMRegressor",
    "LinearRegressor",
    "PerceptronClassifier",
    "PerceptronRegressor",
    "TextGenerator",
]
