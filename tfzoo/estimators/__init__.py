"""scikit-learn estimators on tfzoo models (fit/predict, pipelines, grid search)."""

from tfzoo.estimators.keras import KerasClassifier, KerasRegressor
from tfzoo.estimators.linear import LinearRegressor
from tfzoo.estimators.perceptron import PerceptronClassifier, PerceptronRegressor

__all__ = [
    "KerasClassifier",
    "KerasRegressor",
    "LinearRegressor",
    "PerceptronClassifier",
    "PerceptronRegressor",
]
