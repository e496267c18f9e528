"""scikit-learn estimators around any Keras model builder."""

from __future__ import annotations

import inspect
import math

import keras
import numpy as np

from tfzoo.estimators._base import NDInputMixin, call_builder
from tfzoo.estimators._supervised import KerasClassifierBase, KerasRegressorBase


class _BuilderMixin(NDInputMixin):
    """``model=`` builder plus ``model_kwargs``; ``set_params(model__x=...)`` routes
    ``x`` into ``model_kwargs`` so ``GridSearchCV`` and ``clone`` work.

    The builder is called as ``model(**model_kwargs, **meta)`` where ``meta``
    holds ``n_features``, ``n_outputs`` (and ``n_classes`` for classifiers),
    passed only when the builder's signature names them (or takes
    ``**kwargs``), and ``input_shape`` (one sample's shape, e.g. ``(28, 28, 1)``)
    when the signature names it. A ``keras.Model`` instance is also accepted:
    each fit trains a fresh ``keras.models.clone_model`` copy of it.

    ``X`` may be a 2-D table or N-d samples (images ``(n, h, w, c)``, sequences
    ``(n, steps, features)``, ...): the model gets them in their shape
    (``sample_shape_``); ``n_features_in_`` counts values per sample, and flat
    rows of that many values are reshaped to ``sample_shape_``. A 2-D table
    into a model whose input is N-d with as many values per sample (64 columns
    into ``(8, 8, 1)``) is reshaped to the model's input.
    """

    def _flatten_samples(self, X, expected=None):
        if isinstance(X, (list, tuple)):
            try:
                arr = np.asarray(X)
            except (TypeError, ValueError):
                return X, None
            X = arr if arr.ndim >= 3 else X
        if getattr(X, "ndim", 2) < 3:
            return X, None
        X = np.asarray(X)
        shape = tuple(int(d) for d in X.shape[1:])
        if expected is not None and shape != tuple(expected):
            raise ValueError(
                f"X has samples of shape {shape}, but {type(self).__name__} was "
                f"fitted on samples of shape {tuple(expected)}."
            )
        return X.reshape(X.shape[0], -1), shape

    def _resolve_sample_shape(self, seen, n_features):
        return seen if seen is not None else (n_features,)

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
        shape = self._set_sample_shape(n_features)
        if isinstance(builder, keras.Model):
            model = keras.models.clone_model(builder)
        elif callable(builder):
            meta = dict(meta)
            if _names_parameter(builder, "input_shape"):
                meta["input_shape"] = shape
            model = call_builder(builder, dict(self.model_kwargs or {}), meta)
        else:
            raise TypeError(f"model must be callable or a keras.Model, got {builder!r}")
        if not isinstance(model, keras.Model):
            raise TypeError(f"the model builder returned {type(model).__name__}, not a keras.Model")
        inputs = [tuple(i.shape) for i in model.inputs]
        if len(inputs) == 1 and _fits(inputs[0][1:], shape):
            return model
        if (
            len(inputs) == 1
            and self._seen_sample_shape is None
            and len(inputs[0]) > 2
            and None not in inputs[0][1:]
            and math.prod(inputs[0][1:]) == n_features
        ):
            self.sample_shape_ = tuple(int(d) for d in inputs[0][1:])  # flat rows -> the model's
            return model
        what = (
            f"X has {n_features} features"
            if self._seen_sample_shape is None
            else f"X has samples of shape {shape}"
        )
        raise ValueError(f"{what}, but the built model expects inputs of shape {inputs}")


def _names_parameter(fn, name):
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _fits(model_shape, sample_shape):
    """Whether samples of ``sample_shape`` fit a model input of ``model_shape`` (None: any)."""
    return len(model_shape) == len(sample_shape) and all(
        m is None or m == s for m, s in zip(model_shape, sample_shape)
    )


_BUILDER_CONSTRAINTS = {"model": [callable, None], "model_kwargs": [dict, None]}


class KerasClassifier(_BuilderMixin, KerasClassifierBase):
    """A scikit-learn classifier around any Keras model builder.

    The builder's model must output probabilities: one sigmoid unit for two
    classes, or ``n_classes`` softmax units (two softmax units also work for
    two classes). Labels may be strings or integers; ``predict`` returns them
    as given.

    ``X`` may be a 2-D table or N-d samples (images ``(n, 28, 28, 1)`` for a
    convolutional builder, sequences ``(n, steps, features)`` for a recurrent
    one): the model gets each sample in its shape, ``sample_shape_``, and a
    builder that names ``input_shape`` receives it. Predict takes samples of
    that shape (or flat rows of ``n_features_in_`` values). X that does not
    fit the built model's input raises an error naming both shapes.
    Sequences of varying lengths: :class:`tfzoo.LSTMClassifier`, or pad them.

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

    Attributes:
        sample_shape_: one sample's shape as the model takes it.
        n_features_in_: values per sample (the table's width for 2-D ``X``).

    Example:
        >>> clf = KerasClassifier(model=tfzoo.models.build_perceptron,
        ...                       model_kwargs={"hidden_units": 8})
        >>> GridSearchCV(clf, {"model__hidden_units": [4, 8]}).fit(X, y)
    """

    _parameter_constraints: dict = {
        **KerasClassifierBase._parameter_constraints,
        **_BUILDER_CONSTRAINTS,
    }

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
    ``y``). Parameters, N-d input and attributes as :class:`KerasClassifier`,
    without ``class_weight``; ``loss=None`` means mean squared error.
    """

    _parameter_constraints: dict = {
        **KerasRegressorBase._parameter_constraints,
        **_BUILDER_CONSTRAINTS,
    }

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
