"""tfzoo: classic model families as Keras 3 layers, builders and estimators."""

from tfzoo._backend import require_tensorflow, require_tensorflow_backend

require_tensorflow()
require_tensorflow_backend()

from tfzoo import datasets, distribute, estimators, layers, models, testing  # noqa: E402
from tfzoo.estimators import (  # noqa: E402
    KerasClassifier,
    KerasRegressor,
    LinearRegressor,
    PerceptronClassifier,
    PerceptronRegressor,
)
from tfzoo.layers import Linear, Perceptron  # noqa: E402
from tfzoo.models import (  # noqa: E402
    build_linear_regression,
    build_perceptron,
    fit_normal_equations,
)

__version__ = "0.1.0"

__all__ = [
    "KerasClassifier",
    "KerasRegressor",
    "Linear",
    "LinearRegressor",
    "Perceptron",
    "PerceptronClassifier",
    "PerceptronRegressor",
    "build_linear_regression",
    "build_perceptron",
    "datasets",
    "distribute",
    "estimators",
    "fit_normal_equations",
    "layers",
    "models",
    "testing",
]
