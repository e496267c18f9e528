"""scikit-learn estimators around any Keras model builder."""

from __future__ import annotations

import copy
import inspect
import math
import warnings

import keras
import numpy as np
from sklearn.base import clone

from tfzoo._validation import make_optimizer
from tfzoo.estimators._base import OPTIMIZER, NDInputMixin, call_builder
from tfzoo.estimators._supervised import KerasClassifierBase, KerasRegressorBase

#: Learning rate of an optimizer given by name or class when ``learning_rate=None``.
_DEFAULT_LEARNING_RATE = 0.01


def _builder_parameters(builder):
    """The keyword arguments ``builder`` accepts: a set of names, or ``None`` for any
    (a ``**kwargs`` builder, or one whose signature cannot be read)."""
    try:
        params = inspect.signature(builder).parameters
    except (TypeError, ValueError):  # builtins, C callables
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return {
        name
        for name, p in params.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }


def _output_activation(model):
    """How ``model``'s output layer ends: ``"sigmoid"``, ``"softmax"``, ``"logits"``
    (a linear or log-softmax output) or ``None`` when the layer does not say."""
    try:
        layer = model.outputs[0]._keras_history.operation
    except (AttributeError, IndexError, TypeError):
        return None
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    for attr in ("activation", "output_activation"):  # Dense, Conv, Activation; Perceptron
        act = getattr(layer, attr, None)
        if act is None:
            continue
        name = act if isinstance(act, str) else getattr(act, "__name__", None)
        if name in ("sigmoid", "softmax"):
            return name
        if name in ("linear", "log_softmax"):  # log-probabilities are logits too
            return "logits"
        return None  # relu, tanh, a custom function: the probe decides
    return None


def _probe_outputs_are_probabilities(model, single_label, n_rows=64):
    """Whether ``model``'s outputs on random inputs look like probabilities:
    all in [0, 1] and, for ``single_label`` models with several units, rows
    summing to 1. ``None`` when the model cannot be probed (non-float input)."""
    spec = model.inputs[0]
    shape = tuple(spec.shape[1:])
    if any(d is None for d in shape) or "float" not in str(spec.dtype):
        return None
    rng = np.random.default_rng(0)  # a local generator: no global seed is touched
    x = (3.0 * rng.standard_normal((n_rows, *shape))).astype(str(spec.dtype))
    try:
        with warnings.catch_warnings():  # fit shows the model's own warnings, once
            warnings.simplefilter("ignore")
            out = keras.ops.convert_to_numpy(model(x, training=False))
    except Exception:  # noqa: BLE001 - a model that cannot run here is left to fit
        return None
    out = np.asarray(out, dtype=np.float64)
    out = out.reshape(n_rows, -1)
    if not np.all(np.isfinite(out)) or out.min() < 0.0 or out.max() > 1.0:
        return False
    if single_label and out.shape[1] > 1:
        return bool(np.allclose(out.sum(axis=1), 1.0, atol=1e-3))
    return True


class _BuilderMixin(NDInputMixin):
    """``model=`` builder plus ``model_kwargs``; ``set_params(model__x=...)`` routes
    ``x`` into ``model_kwargs`` so ``GridSearchCV`` and ``clone`` work.

    The builder is called as ``model(**model_kwargs, **meta)`` where ``meta``
    holds ``n_features``, ``n_outputs`` (and ``n_classes`` for classifiers),
    passed only when the builder's signature names them (or takes
    ``**kwargs``), and ``input_shape`` (one sample's shape, e.g. ``(28, 28, 1)``)
    when the signature names it. An argument the builder does not take is
    refused with a ``ValueError`` by ``set_params`` (and by ``fit`` for
    ``model_kwargs``).

    ``X`` may be a 2-D table or N-d samples (images ``(n, h, w, c)``, sequences
    ``(n, steps, features)``, ...): the model gets them in their shape
    (``sample_shape_``); ``n_features_in_`` counts values per sample, and flat
    rows of that many values are reshaped to ``sample_shape_``. A 2-D table
    into a model whose input is N-d with as many values per sample (64 columns
    into ``(8, 8, 1)``) is reshaped to the model's input.

    A ``keras.Model`` instance is also accepted: each fit trains a fresh
    ``keras.models.clone_model`` copy of it. When it is compiled, what it
    was compiled with is kept (fresh copies for each fit, so clones and
    grid-search candidates share nothing): its optimizer unless
    ``optimizer`` is given, with its learning rate unless ``learning_rate``
    is given; its loss unless ``loss`` is given; its ``metrics`` and
    ``weighted_metrics`` (their values are in ``history_``).
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
            self._check_builder_kwargs(routed, prefix="model__")
            kwargs = dict(self.model_kwargs or {})
            kwargs.update(routed)
            self.model_kwargs = kwargs
        return self

    def __sklearn_clone__(self):
        # A keras.Model given as model= is a read-only template (each fit clones
        # it): clones share it instead of deep-copying it (a deep copy of a
        # compiled model whose optimizer is not built warns in Keras).
        if not isinstance(self.model, keras.Model):
            return super().__sklearn_clone__()
        params = {
            k: v if k == "model" else clone(v, safe=False)
            for k, v in self.get_params(deep=False).items()
        }
        new = type(self)(**params)
        for attr in ("_metadata_request", "_sklearn_output_config"):
            if attr in self.__dict__:
                setattr(new, attr, copy.deepcopy(self.__dict__[attr]))
        return new

    def _check_builder_kwargs(self, kwargs, prefix=""):
        if not kwargs:
            return
        builder = self.model
        names = sorted(f"{prefix}{k}" for k in kwargs)
        if isinstance(builder, keras.Model):
            raise ValueError(
                f"Invalid parameter(s) {names} for {type(self).__name__}: model= is a "
                "keras.Model instance, which takes no builder arguments. Pass a function "
                "that returns a keras.Model to tune its arguments."
            )
        if not callable(builder):
            return  # fit says that model= is missing or not callable
        accepted = _builder_parameters(builder)
        if accepted is None:
            return
        unknown = sorted(set(kwargs) - accepted)
        if unknown:
            name = getattr(builder, "__qualname__", None) or repr(builder)
            raise ValueError(
                f"Invalid parameter(s) {[prefix + k for k in unknown]} for "
                f"{type(self).__name__}: the model builder {name}() takes no argument "
                f"{', '.join(repr(k) for k in unknown)}. Valid parameters are: "
                f"{sorted(accepted)}."
            )

    # -- what a compiled keras.Model brings
    def _user_compile_config(self):
        """Fresh objects of what ``model=`` was compiled with, or ``{}``."""
        model = self.model
        if not isinstance(model, keras.Model) or not getattr(model, "compiled", False):
            return {}
        config = model.get_compile_config()
        if not config:
            return {}
        return keras.saving.deserialize_keras_object(config)

    def _make_optimizer(self):
        optimizer = self.optimizer
        if optimizer is None:
            compiled = self._user_compile_config().get("optimizer")
            if compiled is not None:
                return make_optimizer(compiled, self.learning_rate)
            optimizer = "adam"
        learning_rate = self.learning_rate
        if learning_rate is None and not isinstance(optimizer, keras.optimizers.Optimizer):
            learning_rate = _DEFAULT_LEARNING_RATE
        return make_optimizer(optimizer, learning_rate)

    def _default_loss(self, model):
        loss = self._user_compile_config().get("loss")
        return loss if loss is not None else super()._default_loss(model)

    def _compile_extras(self):
        config = self._user_compile_config()
        return {k: config[k] for k in ("metrics", "weighted_metrics") if config.get(k) is not None}

    def _build_keras_model(self, n_features, n_outputs, meta):
        builder = self.model
        if builder is None:
            raise ValueError(
                f"{type(self).__name__} needs model=: a function that returns a "
                "keras.Model (e.g. tfzoo.models.build_perceptron) or a keras.Model"
            )
        self._check_builder_kwargs(dict(self.model_kwargs or {}))
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


_BUILDER_CONSTRAINTS = {
    "model": [callable, None],
    "model_kwargs": [dict, None],
    "optimizer": [*OPTIMIZER, None],
}


class KerasClassifier(_BuilderMixin, KerasClassifierBase):
    """A scikit-learn classifier around any Keras model builder.

    The builder's model outputs one sigmoid unit for two classes, or
    ``n_classes`` softmax units (two softmax units also work for two
    classes). Labels may be strings or integers; ``predict`` returns them as
    given. A multilabel indicator matrix ``y`` of shape ``(n_samples,
    n_labels)`` (0/1) is accepted as scikit-learn's ``MLPClassifier`` takes
    it: the model needs ``n_labels`` sigmoid units (the builder gets
    ``n_outputs=n_labels``), ``predict`` returns the indicator matrix and
    ``predict_proba`` each label's probability; several columns of
    multiclass labels (multiclass-multioutput) are refused.

    Logits: a model whose output layer is linear (or log-softmax) is read as
    giving logits: it is trained with ``from_logits=True`` and
    ``predict_proba`` applies sigmoid/softmax. When the output layer does
    not say (a custom layer), the model is run on random inputs once before
    training: outputs outside [0, 1] (or, for several classes, rows not
    summing to 1) are read as logits. ``from_logits_`` records the choice;
    a loss object with a ``from_logits`` attribute (e.g.
    ``keras.losses.BinaryCrossentropy(from_logits=True)``) overrides it.

    ``X`` may be a 2-D table or N-d samples (images ``(n, 28, 28, 1)`` for a
    convolutional builder, sequences ``(n, steps, features)`` for a recurrent
    one): the model gets each sample in its shape, ``sample_shape_``, and a
    builder that names ``input_shape`` receives it. Predict takes samples of
    that shape (or flat rows of ``n_features_in_`` values). X that does not
    fit the built model's input raises an error naming both shapes.
    Sequences of varying lengths: :class:`tfzoo.LSTMClassifier`, or pad them.
    ``X`` may be ``scipy.sparse`` (a ``OneHotEncoder``'s output): the model
    gets dense batches, densified one batch (or prediction chunk) at a time.

    Args:
        model: builder callable, or a ``keras.Model`` to clone; a compiled
            one keeps its optimizer, loss and metrics (see below).
        model_kwargs: keyword arguments for the builder; ``model__name=value``
            in ``set_params``/``GridSearchCV`` updates them. A name the builder
            does not take raises ``ValueError`` (in ``set_params``, or in
            ``fit`` for ``model_kwargs``) unless it takes ``**kwargs``.
        epochs, batch_size: training settings.
        optimizer: a name, class or instance; ``None``: the compiled
            ``model``'s optimizer (a fresh copy for each fit), else ``"adam"``.
        learning_rate: ``None``: the learning rate of the optimizer given as
            an instance or compiled into ``model``, else 0.01; a value
            replaces it.
        loss: ``None``: the compiled ``model``'s loss, else binary (one unit,
            or multilabel) or sparse categorical cross-entropy
            (``"categorical_crossentropy"`` gets one-hot targets).
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

    _supports_multilabel = True

    def _outputs_are_logits(self, model):
        kind = _output_activation(model)
        if self._is_multilabel and kind == "softmax":
            raise ValueError(
                f"y is a multilabel indicator matrix of {len(self.classes_)} labels, but "
                "the model ends in a softmax, whose outputs compete: multilabel y needs "
                "one sigmoid unit (or logit) per label"
            )
        if kind is not None:
            return kind == "logits"
        looks = _probe_outputs_are_probabilities(model, single_label=not self._is_multilabel)
        return looks is False

    #: ``X`` may be ``scipy.sparse`` (densified a batch / a chunk at a time).
    _sparse_input = True

    def __init__(
        self,
        model=None,
        *,
        model_kwargs=None,
        epochs=200,
        batch_size=32,
        optimizer=None,
        learning_rate=None,
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

    #: ``X`` may be ``scipy.sparse`` (densified a batch / a chunk at a time).
    _sparse_input = True

    def __init__(
        self,
        model=None,
        *,
        model_kwargs=None,
        epochs=200,
        batch_size=32,
        optimizer=None,
        learning_rate=None,
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
