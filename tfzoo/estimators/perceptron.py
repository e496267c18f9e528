"""The seed's perceptron as scikit-learn estimators."""

from __future__ import annotations

from numbers import Integral

from sklearn.utils._param_validation import Interval

from tfzoo.estimators._supervised import KerasRegressorBase, LogitClassifierBase
from tfzoo.models.perceptron import build_perceptron


class PerceptronClassifier(LogitClassifierBase):
    """``ŷ = sigmoid(W₂·tanh(xᵀW₁ + b₁) + b₂)`` as a scikit-learn classifier.

    Two classes: one sigmoid output and binary cross-entropy; more: softmax
    outputs and categorical cross-entropy. Probabilities and decision values
    are computed in float64 from the logits. ``X`` may be ``scipy.sparse``
    (a ``OneHotEncoder``'s output): only a batch of rows is densified at a time.

    Args:
        hidden_units: width of the hidden layer (the seed's 2 by default).
        hidden_activation: hidden activation (``"tanh"``).
        epochs, batch_size, optimizer, learning_rate, loss,
        validation_fraction, early_stopping, n_iter_no_change, callbacks,
        class_weight, warm_start, random_state, verbose, strategy,
        tensorboard_dir: as in :class:`tfzoo.KerasClassifier`.

    Example:
        >>> make_pipeline(StandardScaler(), PerceptronClassifier(random_state=0)).fit(X, y)
    """

    _parameter_constraints: dict = {
        **LogitClassifierBase._parameter_constraints,
        "hidden_units": [Interval(Integral, 1, None, closed="left")],
        "hidden_activation": [str, callable],
    }

    #: ``X`` may be ``scipy.sparse`` (densified a batch / a chunk at a time).
    _sparse_input = True

    def __init__(
        self,
        *,
        hidden_units=2,
        hidden_activation="tanh",
        epochs=200,
        batch_size=32,
        optimizer="adam",
        learning_rate=0.01,
        loss=None,
        validation_fraction=0.1,
        early_stopping=False,
        n_iter_no_change=10,
        callbacks=None,
        class_weight=None,
        warm_start=False,
        random_state=None,
        verbose=0,
        strategy="auto",
        tensorboard_dir=None,
    ):
        self.hidden_units = hidden_units
        self.hidden_activation = hidden_activation
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.loss = loss
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.strategy = strategy
        self.tensorboard_dir = tensorboard_dir

    def _build_keras_model(self, n_features, n_outputs, meta):
        return build_perceptron(
            n_features,
            hidden_units=self.hidden_units,
            hidden_activation=self.hidden_activation,
            output_activation="sigmoid" if n_outputs == 1 else "softmax",
            n_outputs=n_outputs,
        )

    def _prediction_target(self, model):
        layer = model.get_layer("perceptron")
        return lambda x, training=False: layer.logits(x)


class PerceptronRegressor(KerasRegressorBase):
    """The perceptron with a linear output, as a scikit-learn regressor.

    Args:
        hidden_units: width of the hidden layer (2 by default).
        hidden_activation: hidden activation (``"tanh"``).
        output_activation: output activation (``"linear"``).
        Other parameters as :class:`tfzoo.KerasRegressor`.
    """

    _parameter_constraints: dict = {
        **KerasRegressorBase._parameter_constraints,
        "hidden_units": [Interval(Integral, 1, None, closed="left")],
        "hidden_activation": [str, callable],
        "output_activation": [str, callable],
    }

    _sparse_input = True

    def __init__(
        self,
        *,
        hidden_units=2,
        hidden_activation="tanh",
        output_activation="linear",
        epochs=200,
        batch_size=32,
        optimizer="adam",
        learning_rate=0.01,
        loss=None,
        validation_fraction=0.1,
        early_stopping=False,
        n_iter_no_change=10,
        callbacks=None,
        warm_start=False,
        random_state=None,
        verbose=0,
        strategy="auto",
        tensorboard_dir=None,
    ):
        self.hidden_units = hidden_units
        self.hidden_activation = hidden_activation
        self.output_activation = output_activation
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.loss = loss
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.strategy = strategy
        self.tensorboard_dir = tensorboard_dir

    def _build_keras_model(self, n_features, n_outputs, meta):
        return build_perceptron(
            n_features,
            hidden_units=self.hidden_units,
            hidden_activation=self.hidden_activation,
            output_activation=self.output_activation,
            n_outputs=n_outputs,
        )
