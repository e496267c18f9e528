"""tfzoo: classic model families as Keras 3 layers, builders and estimators.

Runs on Keras's TensorFlow, JAX and PyTorch backends (``KERAS_BACKEND``);
TensorFlow need not be installed on the other two (see ``tfzoo._backend``).
"""

from tfzoo._backend import check_import

check_import()

from tfzoo import (  # noqa: E402
    datasets,
    distribute,
    estimators,
    evaluation,
    layers,
    models,
    reports,
    solvers,
    testing,
)
from tfzoo.estimators import (  # noqa: E402
    CNNClassifier,
    KerasClassifier,
    KerasRegressor,
    LinearRegressor,
    LSTMClassifier,
    LSTMRegressor,
    PerceptronClassifier,
    PerceptronRegressor,
    TextGenerator,
)
from tfzoo.layers import (  # noqa: E402
    ConvBlock,
    Linear,
    LSTMEncoder,
    MatrixFactorization,
    Perceptron,
)
from tfzoo.models import (  # noqa: E402
    build_char_rnn,
    build_embedding_recommender,
    build_linear_regression,
    build_lstm_classifier,
    build_lstm_forecaster,
    build_mask_rcnn,
    build_perceptron,
    build_small_cnn,
    fit_normal_equations,
)

__version__ = "0.1.0"

__all__ = [
    "CNNClassifier",
    "ConvBlock",
    "KerasClassifier",
    "KerasRegressor",
    "LSTMClassifier",
    "LSTMEncoder",
    "LSTMRegressor",
    "Linear",
    "LinearRegressor",
    "MatrixFactorization",
    "Perceptron",
    "PerceptronClassifier",
    "PerceptronRegressor",
    "TextGenerator",
    "build_char_rnn",
    "build_embedding_recommender",
    "build_linear_regression",
    "build_lstm_classifier",
    "build_lstm_forecaster",
    "build_mask_rcnn",
    "build_perceptron",
    "build_small_cnn",
    "datasets",
    "distribute",
    "estimators",
    "evaluation",
    "fit_normal_equations",
    "layers",
    "models",
    "reports",
    "solvers",
    "testing",
]
