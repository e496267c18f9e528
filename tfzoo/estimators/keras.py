"""scikit-learn estimators around any Keras model builder."""

from __future__ import annotations

import keras

from tfzoo.estimators._base import call_builder
from tfzoo.estimators._supervised import KerasClassifierBase, KerasRegressorBase


class _BuilderMixin:
    """``model=`` builder plus ``model_kwargs``; ``set_params(model__x=...)`` routes
    ``x`` into ``model_kwargs`` so ``GridSearchCV`` and ``clone`` work.

    The builder is called as ``model(**model_kwargs, **meta)`` where ``meta``
    holds ``n_features``, ``n_outputs`` (and ``n_classes`` for classifiers),
    passed only when the builder's signature names them (or takes
    ``**kwargs``). A ``keras.Model`` instance is also accepted: each fit
    trains a fresh ``keras.models.clone_model`` copy of it.
    """

    def set_params(self, **params):
        routed = {k[len("model__") :]: v for k, v in params.items() if k.startswith("model__")}
        rest = {k: v for k, v in params.items() if not k.startswith("model__")}
        if rest:
            super().set_params(**rest)
        if routed:
            kwargs = dict(self.model_kwargs or {})
            kwargs.update(routed)
            self.model_kwargs = kwargs
        return self

    def _build_keras_model(self, n_features, n_outputs, meta):
        builder = self.model
        if builder is None:
            raise ValueError(
                f"{type(self).__name__} needs model=: a function that returns a "
                "keras.Model (e.g. tfzoo.models.build_perceptron) or a keras.Model"
            )
        if isinstance(builder, keras.Model):
            model = keras.models.clone_model(builder)
        elif callable(builder):
            model = call_builder(builder, dict(self.model_kwargs or {}), meta)
        else:
            raise TypeError(f"model must be callable or a keras.Model, got {builder!r}")
        if not isinstance(model, keras.Model):
            raise TypeError(f"the model builder returned {type(model).__name__}, not a keras.Model")
        if len(model.inputs) != 1 or model.inputs[0].shape[-1] != n_features:
            raise ValueError(
                f"X has {n_features} features, but the built model expects inputs of "
                f"shape {[tuple(i.shape) for i in model.inputs]}"
            )
        return model


_BUILDER_CONSTRAINTS = {"model": [callable, None], "model_kwargs": [dict, None]}


class KerasClassifier(_BuilderMixin, KerasClassifierBase):
    """A scikit-learn classifier around any Keras model builder.

    The builder's model must output probabilities: one sigmoid unit for two
    classes, or ``n_classes`` softmax units (two softmax units also work for
    two classes). Labels may be strings or integers; ``predict`` returns them
    as given. ``X`` may be ``scipy.sparse`` (a ``OneHotEncoder``'s output):
    the model gets dense batches, densified one batch (or prediction chunk)
    at a time.

    Args:
        model: builder callable (or a ``keras.Model`` to clone).
        model_kwargs: keyword arguments for the builder; ``model__name=value``
            in ``set_params``/``GridSearchCV`` updates them.
        epochs, batch_size, optimizer, learning_rate, loss: training settings
            (``loss=None``: binary or sparse categorical cross-entropy).
        validation_fraction, early_stopping, n_iter_no_change: hold out a
            stratified fraction and stop when its loss stops improving.
        callbacks: Keras callbacks (copied for each fit).
        class_weight: ``None``, ``"balanced"`` or ``{label: weight}``.
        warm_start: continue from the fitted model on the next ``fit``.
        random_state: seed of the fit (global seeds are restored afterwards).
        verbose: Keras verbosity.
        strategy: ``"auto"``, ``"default"``, ``"mirrored"`` or a strategy,
            resolved in ``fit``.
        tensorboard_dir: write TensorBoard scalars and the graph there.

    Example:
        >>> clf = KerasClassifier(model=tfzoo.models.build_perceptron,
        ...                       model_kwargs={"hidden_units": 8})
        >>> GridSearchCV(clf, {"model__hidden_units": [4, 8]}).fit(X, y)
    """

    _parameter_constraints: dict = {
        **KerasClassifierBase._parameter_constraints,
        **_BUILDER_CONSTRAINTS,
    }

    #: ``X`` may be ``scipy.sparse`` (densified a batch / a chunk at a time).
    _sparse_input = True

    def __init__(
        self,
        model=None,
        *,
        model_kwargs=None,
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
        self.model = model
        self.model_kwargs = model_kwargs
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


class KerasRegressor(_BuilderMixin, KerasRegressorBase):
    """A scikit-learn regressor around any Keras model builder.

    The builder's model must have ``n_outputs`` linear outputs (1 for a 1-D
    ``y``). Parameters as :class:`KerasClassifier`, without ``class_weight``;
    ``loss=None`` means mean squared error.
    """

    _parameter_constraints: dict = {
        **KerasRegressorBase._parameter_constraints,
        **_BUILDER_CONSTRAINTS,
    }

    #: ``X`` may be ``scipy.sparse`` (densified a batch / a chunk at a time).
    _sparse_input = True

    def __init__(
        self,
        model=None,
        *,
        model_kwargs=None,
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
        self.model = model
        self.model_kwargs = model_kwargs
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
