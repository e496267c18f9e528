"""The machinery every tfzoo estimator shares.

Subclasses say how targets are encoded, which model to build and which loss
to use; this base validates data the scikit-learn way, resolves the
distribution strategy in ``fit``, seeds the fit without leaking global
state, trains with ``model.fit`` and predicts through one compiled graph
function per fitted model (batch dimension ``None``, traced in ``fit``), which
is what makes a one-row ``predict`` take about a millisecond instead of building a
``tf.data`` pipeline per call as ``model.predict`` does. That is the
TensorFlow backend; on JAX and torch the batches and the prediction function
come from :mod:`tfzoo.estimators._runtime` (no TensorFlow on their path).

Estimators whose rows are flat feature vectors set ``_sparse_input`` and take
``scipy.sparse`` ``X`` (a ``OneHotEncoder``'s output): it stays sparse, and
only a batch (training) or a chunk (prediction, the normal equations) of rows
is densified at a time. ``partial_fit`` runs Keras's compiled train function
on its batches directly (see :meth:`BaseKerasEstimator._train_one_pass`).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import random
import weakref
from numbers import Integral, Real

import keras
import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, _fit_context
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from tfzoo._backend import tensorflow as tf
from tfzoo._validation import make_optimizer
from tfzoo.distribute import get_strategy, jax_multiworker, keras_fixes
from tfzoo.distribute.strategy import (
    STRATEGY_NAMES,
    DefaultStrategy,
    is_keras_distribution,
    is_parameter_server,
    strategy_types,
)
from tfzoo.estimators import _runtime
from tfzoo.estimators._seeding import as_seed, seeded
from tfzoo.estimators._tensorboard import TensorBoard
from tfzoo.estimators._threads import share_threads_in_joblib_worker

#: Rows per call of the compiled prediction function (bounds peak memory).
PREDICT_CHUNK_ROWS = 16384

#: Values (rows x features) densified at a time from sparse ``X`` outside
#: training: prediction chunks and the normal equations' batches (8 MiB of float64).
SPARSE_CHUNK_VALUES = 1 << 20

#: Constraints shared by the estimators' parameters (scikit-learn's
#: ``sklearn.utils._param_validation`` vocabulary, checked by ``_fit_context``).
POSITIVE_INT = Interval(Integral, 1, None, closed="left")
FRACTION = Interval(Real, 0, 1, closed="left")
OPTIMIZER = [str, keras.optimizers.Optimizer, type]
STRATEGY = [StrOptions(set(STRATEGY_NAMES)), *strategy_types(), None]
RANDOM_STATE = ["random_state", np.random.Generator]
CALLBACKS = [list, tuple, None]
PATH = [str, os.PathLike, None]
VERBOSE = ["verbose", StrOptions({"auto"})]


class BaseKerasEstimator(BaseEstimator):
    """Common parameters and the fit/predict machinery (not used directly)."""

    #: Whether ``X`` may be a ``scipy.sparse`` matrix or array (flat rows only).
    _sparse_input = False

    # ----------------------------------------------------------------- hooks
    def _build_keras_model(self, n_features, n_outputs, meta):  # pragma: no cover
        raise NotImplementedError

    def _default_loss(self, model):  # pragma: no cover
        raise NotImplementedError

    def _check_model_outputs(self, model):  # pragma: no cover
        raise NotImplementedError

    def _model_targets(self, y_enc, model):  # pragma: no cover
        raise NotImplementedError

    #: The parameters every estimator on this base has; subclasses add theirs.
    _parameter_constraints: dict = {
        "epochs": [POSITIVE_INT],
        "batch_size": [POSITIVE_INT, None],
        "optimizer": OPTIMIZER,
        "learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "loss": [str, callable, None],
        "validation_fraction": [FRACTION],
        "early_stopping": ["boolean"],
        "n_iter_no_change": [POSITIVE_INT],
        "callbacks": CALLBACKS,
        "warm_start": ["boolean"],
        "random_state": RANDOM_STATE,
        "verbose": VERBOSE,
        "strategy": STRATEGY,
        "tensorboard_dir": PATH,
    }

    def _check_param_combinations(self):
        """What ``_parameter_constraints`` cannot say: parameters that exclude each other."""
        if self.early_stopping and self.validation_fraction == 0:
            raise ValueError(
                "early_stopping=True needs validation_fraction > 0, got validation_fraction=0"
            )

    # ------------------------------------------------------------ utilities
    def _make_optimizer(self):
        return make_optimizer(self.optimizer, self.learning_rate)

    def _make_callbacks(self, has_validation):
        # The user's callback objects are used as given (as model.fit would),
        # so that what they record can be read after fit; clone() copies them.
        # The divergence check runs first, so no other callback sees NaN weights
        # restored as "best" or saved.
        callbacks = [DivergenceGuard()] + list(self.callbacks or [])
        if self.early_stopping and has_validation:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss",
                    patience=self.n_iter_no_change,
                    restore_best_weights=True,
                )
            )
        if self.tensorboard_dir is not None:
            callbacks.append(TensorBoard(log_dir=str(self.tensorboard_dir), write_graph=True))
        return callbacks

    def _compile_extras(self):
        """More ``model.compile`` arguments (``metrics``...): none by default."""
        return {}

    def _loss_for(self, model):
        loss = getattr(self, "loss", None)
        return loss if loss is not None else self._default_loss(model)

    def _check_sample_weight(self, sample_weight, X):
        if sample_weight is None:
            return None
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        if not np.any(sample_weight > 0):
            raise ValueError("Sample weights must contain at least one non-zero number.")
        return sample_weight

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train on ``(X, y)`` for ``epochs`` epochs and return ``self``.

        A new model is built unless ``warm_start=True`` and one was fitted
        before on data of the same shape.
        """
        return self._fit(X, y, sample_weight, epochs=self.epochs, incremental=False)

    @contextlib.contextmanager
    def _one_pass(self):
        """Mark a ``partial_fit`` call: ``_train`` may then step through the batches
        itself instead of calling ``model.fit`` (:meth:`_train_one_pass`)."""
        self._in_partial_fit = True
        try:
            yield
        finally:
            del self._in_partial_fit

    def _fit(self, X, y, sample_weight, epochs, incremental, classes=None):
        self._check_param_combinations()
        share_threads_in_joblib_worker()  # n_jobs workers: each its share of the cores
        keep = incremental or (self.warm_start and hasattr(self, "model_"))
        X, y = self._validate_fit_data(X, y, reset=not keep)
        check_float32_range(X, "X")
        sample_weight = self._check_sample_weight(sample_weight, X)
        y_enc, meta = self._encode_targets(y, reset=not keep, classes=classes)
        check_float32_range(y_enc, "y")
        meta["n_samples"] = X.shape[0]
        sample_weight = self._effective_sample_weight(y_enc, sample_weight)

        # A partial_fit pass stepped through directly on a built model resolves no
        # strategy again (the model has its own; "auto" looks for TPUs, 2 ms) and
        # needs no global seeding (its order comes from the seed; the layers' seed
        # generators were seeded at build): seeding TensorFlow clears its kernel
        # cache, 60 ms a call to re-instantiate the train step.
        direct = keep and self._steps_directly()
        strategy = _model_strategy(self.model_) if direct else get_strategy(self.strategy)
        if is_parameter_server(strategy):
            raise ValueError(
                "estimators train with Keras's fit, which ParameterServerStrategy does not "
                "support: use strategy='mirrored'/'multiworker', or tfzoo.distribute.fit_ps"
            )
        seeding = (
            contextlib.nullcontext(as_seed(self.random_state))
            if direct
            else seeded(self.random_state)
        )
        with seeding as seed:
            if not keep:
                with strategy.scope():
                    model = self._build_keras_model(self.n_features_in_, meta["n_outputs"], meta)
                    self._check_model_outputs(model)
                    loss = self._loss_for(model)
                    # (keras.distribution on JAX is SPMD: its loss is the global batch's already)
                    if strategy.num_replicas_in_sync > 1 and not is_keras_distribution(strategy):
                        loss = GlobalBatchLoss(loss)
                    model.compile(
                        optimizer=self._make_optimizer(),
                        loss=loss,
                        **self._compile_extras(),
                        steps_per_execution=keras_fixes.steps_per_execution(
                            strategy, getattr(self, "steps_per_execution", 1)
                        ),
                    )
                    build_optimizer(model)
                if _runtime.backend() != "tensorflow":
                    _MODEL_STRATEGY[model] = strategy
                self.model_ = model
                self.history_ = {}
                self.n_iter_ = 0
            targets = self._model_targets(y_enc, self.model_)
            try:
                history = self._train(X, targets, sample_weight, epochs, seed)
            except TrainingDivergedError:
                if not keep:  # nothing half-fitted stays behind
                    for name in ("model_", "history_", "n_iter_", "_predict_fn", "_predict_copy"):
                        self.__dict__.pop(name, None)
                raise
        for key, values in history.items():
            self.history_.setdefault(key, []).extend(float(v) for v in values)
        self.n_iter_ += len(history.get("loss", []))
        self.loss_curve_ = list(self.history_.get("loss", []))
        self._refresh_predict_fn()
        return self

    def _validate_kwargs(self):
        return dict(
            dtype=[np.float64, np.float32],
            ensure_min_samples=1,
            accept_sparse="csr" if self._sparse_input else False,
        )

    def _validate_fit_data(self, X, y, reset):
        """``validate_data`` for ``fit`` (sequence estimators override it)."""
        return validate_data(self, X, y, reset=reset, **self._validate_kwargs())

    def _input_shape(self):
        """Shape of one sample as the model takes it (flat by default)."""
        return (self.n_features_in_,)

    def _reshape_input(self, X):
        """Validated flat ``X`` -> the model's input layout."""
        return X.reshape((X.shape[0],) + tuple(self._input_shape()))

    def _train(self, X, y, sample_weight, epochs, seed):
        if self._steps_directly():
            return self._train_one_pass(X, y, sample_weight, seed)
        strategy = _model_strategy(self.model_)
        spmd = is_keras_distribution(strategy)
        # strategy="multiworker" on JAX: each process feeds its share of every
        # global batch, all of them splitting and shuffling alike (jax_multiworker)
        process = jax_multiworker.process_share(strategy.distribution) if spmd else None
        if process is not None and seed is None:
            seed = jax_multiworker.shared_seed(strategy.distribution)
        if sparse.issparse(X):
            X = X.astype(np.float32)  # stays sparse: make_dataset densifies each batch
            sample_shape = self._input_shape()
        else:
            X = self._reshape_input(np.asarray(X, dtype=np.float32))
            sample_shape = None
        validation_data = None
        if self.early_stopping and self.validation_fraction > 0:
            split = train_test_split(
                *([X, y] + ([sample_weight] if sample_weight is not None else [])),
                test_size=self.validation_fraction,
                random_state=seed if seed is not None else None,
                stratify=self._stratify(y),
            )
            X, X_val, y, y_val = split[:4]
            if sample_weight is not None:
                sample_weight, sw_val = split[4:]
                validation_data = (X_val, y_val, sw_val)
            else:
                validation_data = (X_val, y_val)
        batch_size = self.batch_size if self.batch_size is not None else min(200, X.shape[0])
        # Under several tf.distribute replicas every replica's loss is a share of
        # the global batch's mean (see GlobalBatchLoss), so a batch that does not
        # split evenly trains exactly as on one device: the user's batch is kept.
        # keras.distribution (JAX) needs batches that split evenly over its devices:
        # a batch that does not is padded (see _runtime.ArrayBatches).
        global_mean = strategy.num_replicas_in_sync > 1 and not spmd
        pad = dict(pad_to=strategy.num_replicas_in_sync, loss=self.model_.loss) if spmd else {}
        if process is not None:
            pad["process"] = process
        train = make_dataset(
            X,
            y,
            sample_weight,
            batch_size,
            shuffle=True,
            seed=seed,
            global_mean=global_mean,
            sample_shape=sample_shape,
            **pad,
        )
        if validation_data is not None:
            validation_data = make_dataset(
                *(validation_data + (None,))[:3],
                batch_size,
                global_mean=global_mean,
                sample_shape=sample_shape,
                **pad,
            )
        # Keras's JAX trainer shards each batch by the distribution active when
        # fit runs: fit inside the model's scope (on TensorFlow the model has its own).
        scope = strategy.scope() if spmd else contextlib.nullcontext()
        local_input = (
            jax_multiworker.process_local_input(strategy.distribution)
            if spmd
            else contextlib.nullcontext()
        )
        with scope, local_input:
            history = self.model_.fit(
                train,
                epochs=epochs,
                validation_data=validation_data,
                callbacks=self._make_callbacks(validation_data is not None),
                shuffle=False,  # the dataset shuffles itself, with the fit's seed
                verbose=self.verbose,
            )
        check_finite_weights(self.model_)
        return history.history

    def _steps_directly(self):
        """Whether this is a ``partial_fit`` pass that can skip ``model.fit``:
        nothing that needs its callbacks or its distributed input pipeline."""
        return (
            getattr(self, "_in_partial_fit", False)
            and hasattr(self, "model_")
            and not (self.early_stopping and self.validation_fraction > 0)
            and not self.callbacks
            and self.tensorboard_dir is None
            and self.verbose == 0
            # built under no strategy (a strategy's replicas need distributed batches)
            and _built_without_strategy(self.model_)
        )

    def _train_one_pass(self, X, y, sample_weight, seed):
        """One shuffled pass over ``(X, y)`` through the model's compiled train function.

        ``model.fit`` costs about 100 ms a call before its first step (data
        adapter, iterator, callbacks), which made a stream of small
        ``partial_fit`` calls 50-100x slower than the same batches inside one
        ``fit``. Keras's ``train_function`` is built once per model (and its
        step traced once, with ``reduce_retracing``) and takes a list of
        batches, so each call here costs about the step itself. Metrics are
        reset first, so the loss is this pass's batch-size-weighted mean, as
        ``fit`` reports an epoch's; the divergence checks are ``fit``'s.
        """
        model = self.model_
        if _runtime.backend() == "tensorflow":
            model.make_train_function()
        n = X.shape[0]
        batch_size = self.batch_size if self.batch_size is not None else min(200, n)
        # a different order each call, reproducible with random_state
        rng = np.random.default_rng(None if seed is None else [seed, self.n_iter_])
        order = rng.permutation(n) if n > batch_size else None
        if not sparse.issparse(X):
            X = np.asarray(X, dtype=np.float32)
        if sample_weight is not None:
            sample_weight = sample_weight.astype(np.float32)

        def batches():
            for start in range(0, n, batch_size):
                rows = slice(None) if order is None else order[start : start + batch_size]
                xb = X[rows]
                if sparse.issparse(xb):
                    xb = xb.toarray()
                batch = (self._reshape_input(np.asarray(xb, dtype=np.float32)), y[rows])
                if sample_weight is not None:
                    batch += (sample_weight[rows],)
                yield batch

        if _runtime.backend() == "tensorflow":
            model.reset_metrics()
            logs = {}
            for batch in batches():
                logs = model.train_function([batch])
        else:
            logs = _runtime.train_pass_directly(model, batches())
        logs = {key: float(value) for key, value in logs.items()}
        check_finite_logs(logs, epoch=self.n_iter_, model=model)
        check_finite_weights(model)
        return {key: [value] for key, value in logs.items()}

    def _stratify(self, y):
        return None

    def _effective_sample_weight(self, y_enc, sample_weight):
        return sample_weight

    # -------------------------------------------------------------- predict
    #: dtype of the prediction copy. float64 makes every row's prediction
    #: independent of which other rows share its call (float32 kernels round
    #: differently for rows in a vector body or its tail: 1 ulp, enough to
    #: fail scikit-learn's sample-order and subset invariance checks).
    predict_dtype = "float64"

    def _prediction_target(self, model):
        """The callable traced for prediction (subclasses may return logits)."""
        return model

    def _make_predict_fn(self):
        with _runtime.dtype_scope(self.predict_dtype):
            model = _copy_with_dtype(self.model_, self.predict_dtype)
        target = self._prediction_target(model)
        self._predict_copy = (self.model_, model)
        if _runtime.backend() != "tensorflow":
            return _runtime.make_predict_function(target, list(model.variables), self.predict_dtype)
        spec = tf.TensorSpec([None, *self._input_shape()], self.predict_dtype)

        @tf.function(input_signature=[spec])
        def predict_step(x):
            return target(x, training=False)

        # Traced here, once per fitted model, and kept as the concrete graph
        # function: its variables are this model's, so each model needs its own
        # trace. Traced lazily by the first predict, every fit's trace of the
        # same Python function counted as a "retracing" in TensorFlow's
        # frequent-tracing heuristic, which warned after 5 fits (grid searches,
        # cross-validation). A concrete function takes any batch size and is
        # never retraced.
        return predict_step.get_concrete_function()

    def _refresh_predict_fn(self):
        """Give the prediction function the weights just trained.

        The function traced for this ``model_`` is kept (tracing and the float64
        copy take about 90 ms): only the copy's weights are assigned again, so
        a stream of ``partial_fit`` calls or a warm start trace nothing new.
        """
        source, copy_ = getattr(self, "_predict_copy", (None, None))
        if source is self.model_ and "_predict_fn" in self.__dict__:
            if copy_ is not source:  # (set_weights would go through NumPy)
                with _runtime.dtype_scope(self.predict_dtype):
                    for dst, src in zip(copy_.weights, source.weights):
                        dst.assign(keras.ops.cast(src.value, dst.dtype))
            refresh = getattr(self._predict_fn, "refresh", None)
            if refresh is not None:  # JAX's function holds the values it was given
                refresh()
        else:
            self._predict_fn = self._make_predict_fn()

    def _raw_predict(self, X):
        """Model outputs for validated ``X`` as float64 NumPy (chunked)."""
        if sparse.issparse(X):
            # densified a chunk at a time, never the whole matrix
            rows = max(1, min(PREDICT_CHUNK_ROWS, SPARSE_CHUNK_VALUES // max(1, X.shape[1])))
            parts = [
                self._raw_predict(X[i : i + rows].toarray()) for i in range(0, X.shape[0], rows)
            ]
            return np.concatenate(parts, axis=0)
        X = self._reshape_input(np.asarray(X, dtype=self.predict_dtype))
        if X.shape[0] <= PREDICT_CHUNK_ROWS:
            return np.asarray(self._predict_fn(X), dtype=np.float64)
        parts = [
            np.asarray(self._predict_fn(X[i : i + PREDICT_CHUNK_ROWS]), dtype=np.float64)
            for i in range(0, X.shape[0], PREDICT_CHUNK_ROWS)
        ]
        return np.concatenate(parts, axis=0)

    def _validated_for_predict(self, X):
        if _plain_rows_for(self, X):
            return X  # what validate_data would return for it, checked in microseconds
        check_is_fitted(self, "model_")
        return validate_data(
            self,
            X,
            reset=False,
            dtype=[np.float64, np.float32],
            accept_sparse="csr" if self._sparse_input else False,
        )

    # -------------------------------------------------------------- pickling
    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_predict_fn", None)
        state.pop("_predict_copy", None)
        if "model_" in state:
            state["model_"] = _runtime.picklable_model(state["model_"])
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "model_" in state:
            self._predict_fn = self._make_predict_fn()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.input_tags.sparse = self._sparse_input
        return tags


def _plain_rows_for(estimator, X):
    """Whether ``X`` is rows that ``validate_data(estimator, X, reset=False,
    dtype=[float64, float32])`` would hand back unchanged and without a warning.

    That is a fitted estimator without feature names and a NumPy array (not a
    subclass) of float32 or float64 with 2 axes, at least one row, the fitted
    number of columns and only finite values. scikit-learn's checks cost about
    150 microseconds a call, most of a 1-row prediction on JAX; this test costs
    a few. Anything else (lists, frames, sparse, other dtypes, a wrong width,
    NaN) goes through ``validate_data``, which raises or converts as it does.
    """
    return (
        type(X) is np.ndarray
        and X.ndim == 2
        and (X.dtype == np.float64 or X.dtype == np.float32)
        and X.shape[0] > 0
        and "model_" in estimator.__dict__
        and "feature_names_in_" not in estimator.__dict__
        and X.shape[1] == estimator.__dict__.get("n_features_in_")
        and bool(np.isfinite(X).all())
    )


class NDInputMixin:
    """Estimators whose samples are arrays (images, sequences), not rows.

    scikit-learn validates 2-D data, so N-d ``X`` is flattened to rows
    before validation (``n_features_in_`` counts values per sample) and
    reshaped to ``sample_shape_`` for the model. Subclasses define
    ``_resolve_sample_shape(seen, n_features)`` and may set
    ``_add_channel`` (3-D input gets a trailing axis of 1).
    """

    _add_channel = False

    def _flatten_samples(self, X, expected=None):
        if not hasattr(X, "ndim") or getattr(X, "ndim", 2) < 3:
            return X, None
        X = np.asarray(X)
        max_ndim = 4 if self._add_channel else 3
        if X.ndim > max_ndim:
            raise ValueError(f"X must have at most {max_ndim} dimensions, got shape {X.shape}")
        shape = X.shape[1:] + ((1,) if self._add_channel and X.ndim == 3 else ())
        if expected is not None and tuple(shape) != tuple(expected):
            raise ValueError(
                f"X has samples of shape {tuple(shape)}, but {type(self).__name__} was "
                f"fitted on samples of shape {tuple(expected)}."
            )
        return X.reshape(X.shape[0], -1), tuple(int(d) for d in shape)

    def _fit(self, X, y, sample_weight, epochs, incremental, classes=None):
        keep = incremental or (self.warm_start and hasattr(self, "model_"))
        expected = self.sample_shape_ if keep and hasattr(self, "sample_shape_") else None
        flat, seen = self._flatten_samples(X, expected)
        self._seen_sample_shape = seen
        return super()._fit(flat, y, sample_weight, epochs, incremental, classes)

    def _set_sample_shape(self, n_features):
        self.sample_shape_ = self._resolve_sample_shape(self._seen_sample_shape, n_features)
        return self.sample_shape_

    def _input_shape(self):
        return self.sample_shape_

    def _validated_for_predict(self, X):
        check_is_fitted(self, "model_")
        flat, _ = self._flatten_samples(X, self.sample_shape_)
        return super()._validated_for_predict(flat)


def _copy_with_dtype(model, dtype):
    """A copy of a fitted model whose layers compute in ``dtype`` (same weights)."""
    if all(getattr(w, "dtype", None) == dtype for w in model.weights):
        return model

    def clone_layer(layer):
        config = layer.get_config()
        if isinstance(layer, keras.layers.Layer):  # not ops such as a mask's NotEqual
            config["dtype"] = dtype
        return layer.__class__.from_config(config)

    # Layer constructors draw initializer seeds from Python's `random`; the
    # copy's weights are overwritten, so give the draws back.
    state = random.getstate()
    try:
        copy_ = keras.models.clone_model(model, clone_function=clone_layer)
    finally:
        random.setstate(state)
    copy_.set_weights(model.get_weights())
    return copy_


#: Off TensorFlow, the strategy each estimator's model was built under (Keras
#: models there do not keep one); a model loaded or unpickled has none: the default.
_MODEL_STRATEGY = weakref.WeakKeyDictionary()


def _model_strategy(model):
    """The strategy ``model`` was built under (off TensorFlow: as recorded in ``fit``)."""
    if _runtime.backend() != "tensorflow":
        strategy = _MODEL_STRATEGY.get(model)
        return strategy if strategy is not None else get_strategy("default")
    return model.distribute_strategy


def _built_without_strategy(model):
    """Whether ``model`` was built outside any strategy (off TensorFlow: under the default one)."""
    if _runtime.backend() != "tensorflow":
        return isinstance(_model_strategy(model), DefaultStrategy)
    return model.distribute_strategy is tf.distribute.get_strategy()


def build_optimizer(model):
    """Create a compiled model's optimizer variables now, outside any ``tf.function``.

    Keras (without a distribution strategy) creates them inside the first
    traced training step, where TensorFlow wraps each initializer in a
    ``tf.cond`` whose branch functions stay registered in the eager context
    for the life of the process: with Adam, 16 functions and about 3 MB per
    fit that no ``del`` or ``gc`` gets back (``benchmarks/memory.py``).
    Call inside the strategy scope the model was compiled in.
    """
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def make_dataset(
    X,
    y,
    sample_weight,
    batch_size,
    shuffle=False,
    seed=None,
    global_mean=False,
    sample_shape=None,
    pad_to=1,
    loss=None,
    process=None,
):
    """One ``tf.data`` pipeline for the whole fit (off TensorFlow an ``ArrayBatches``).

    Keras's own NumPy adapter rebuilds its pipeline every epoch (about 30 ms
    an epoch on 2 CPU cores here); a dataset made once and reshuffled each
    iteration with an explicit seed is both faster and reproducible.

    With ``global_mean`` every batch carries weights ``w / b`` (``b`` its
    global size, ``w`` the sample weights or 1) for a :class:`GlobalBatchLoss`.
    ``pad_to`` > 1 (a ``keras.distribution`` over that many devices, JAX only)
    pads each batch that does not split evenly, for the compiled ``loss``
    (:class:`tfzoo.estimators._runtime.ArrayBatches`); ``process=(p, P)`` (a
    ``keras.distribution`` over ``P`` processes) gives this process's share of
    every batch.

    A ``scipy.sparse`` ``X`` of at most ``SPARSE_CHUNK_VALUES`` values (as a
    dense matrix) is densified once; a larger one becomes a ``tf.SparseTensor`` sliced into rows;
    each batch is densified (and reshaped to ``sample_shape``) as it is made,
    so the dense matrix never exists. The shuffle is the same as for the
    dense rows (it depends on the seed and the row count only), so a sparse
    fit trains on the very batches of the dense one.
    """
    if _runtime.backend() != "tensorflow":
        return _runtime.ArrayBatches(
            X,
            y,
            sample_weight,
            batch_size,
            shuffle,
            seed,
            global_mean,
            sample_shape,
            pad_to=pad_to,
            rescale=pad_to > 1 and not _runtime.sums_over_rows(loss),
            process=process,
        )
    n_rows = X.shape[0]
    if sparse.issparse(X) and n_rows * X.shape[1] <= SPARSE_CHUNK_VALUES:
        # small enough to densify whole (as prediction densifies a chunk): a dense
        # pipeline is traced and run faster than a sparse one (a 40 x 3 fit: 2.3x)
        X = X.toarray().astype(np.float32, copy=False)
        if sample_shape is not None:
            X = X.reshape((-1, *sample_shape))
    elif sparse.issparse(X):
        X = _sparse_tensor(X)
    tensors = (X, y) if sample_weight is None else (X, y, sample_weight.astype(np.float32))
    ds = tf.data.Dataset.from_tensor_slices(tensors)
    if shuffle:
        ds = ds.shuffle(n_rows, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if isinstance(X, tf.SparseTensor):
        shape = [-1, *(sample_shape or X.shape[1:])]

        def densify(x, *rest):
            return (tf.reshape(tf.sparse.to_dense(x), shape), *rest)

        ds = ds.map(densify)
    if global_mean:

        def share(x, y, w=None):
            b = tf.cast(tf.shape(x)[0], tf.float32)
            w = tf.ones([tf.shape(x)[0]], tf.float32) if w is None else w
            return x, y, w / b

        ds = ds.map(share)
    return ds.prefetch(tf.data.AUTOTUNE)


def _sparse_tensor(X):
    """A ``scipy.sparse`` matrix as a float32 ``tf.SparseTensor`` (canonical order)."""
    coo = sparse.coo_matrix(X, dtype=np.float32)
    coo.sum_duplicates()  # also sorts the entries row-major, as tf.data's row slicing needs
    indices = np.column_stack([coo.row, coo.col]).astype(np.int64)
    return tf.SparseTensor(indices, coo.data, [int(d) for d in coo.shape])


@keras.saving.register_keras_serializable(package="tfzoo")
class GlobalBatchLoss(keras.losses.Loss):
    """A loss summed over the rows it sees, for weights that are ``w / b``.

    Keras averages each replica's loss over that replica's slice and then
    over replicas, which differs from the global batch's mean when the batch
    does not split evenly (32 rows on 3 replicas: slices of 11, 11, 10).
    Summing ``w_i / b · loss_i`` on every replica, with ``b`` the global
    batch size (:func:`make_dataset` with ``global_mean=True``), makes the
    summed gradients exactly those of ``Σ w_i loss_i / b`` on one device.
    """

    def __init__(self, loss, name=None):
        fn = keras.losses.get(loss) if isinstance(loss, str) else loss
        super().__init__(name=name or getattr(fn, "name", None) or "loss", reduction="sum")
        self.fn = fn

    def get_config(self):
        return {"loss": keras.losses.serialize(self.fn), "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(keras.losses.deserialize(config["loss"]), name=config.get("name"))

    def call(self, y_true, y_pred):
        if isinstance(self.fn, keras.losses.Loss):
            # per-row values of the wrapped loss, before its own reduction
            return self.fn.call(y_true, y_pred)
        return self.fn(y_true, y_pred)


class TrainingDivergedError(ValueError):
    """Training produced a non-finite loss or non-finite weights."""


class DivergenceGuard(keras.callbacks.Callback):
    """Stop ``fit`` with :class:`TrainingDivergedError` when the loss stops being finite."""

    def on_epoch_end(self, epoch, logs=None):
        check_finite_logs(logs, epoch, self.model)


def check_finite_logs(logs, epoch, model):
    """Raise :class:`TrainingDivergedError` when an epoch's loss is not finite."""
    for key in ("loss", "val_loss"):
        value = (logs or {}).get(key)
        if value is not None and not np.isfinite(float(value)):
            lr = getattr(model.optimizer, "learning_rate", None)
            lr = f" (learning rate {float(np.asarray(lr)):.3g})" if lr is not None else ""
            raise TrainingDivergedError(
                f"Training diverged: the {key.replace('_', ' ')} became "
                f"{float(value)} in epoch {epoch + 1}. The input data may contain "
                "large values and need to be preprocessed (e.g. StandardScaler), or "
                f"the learning rate{lr} is too high."
            )


def check_finite_weights(model):
    """Raise :class:`TrainingDivergedError` when a weight of ``model`` is not finite."""
    bad = [w.path for w in model.weights if not np.all(np.isfinite(np.asarray(w)))]
    if bad:
        raise TrainingDivergedError(
            f"Training produced non-finite weights ({', '.join(bad[:3])}). The input data "
            "may contain large values and need to be preprocessed (e.g. StandardScaler)."
        )


def check_float32_range(a, name):
    """Refuse values that float32 (the training dtype) cannot hold."""
    a = a.data if sparse.issparse(a) else np.asarray(a)
    if a.dtype.kind in "fiu" and a.size:
        largest = float(np.max(np.abs(a.astype(np.float64, copy=False))))
        if largest > float(np.finfo(np.float32).max):
            raise ValueError(
                f"Input {name} has values too large for float32, the dtype the model "
                f"trains in (largest magnitude {largest:.3g} > 3.4e38). Rescale {name} "
                "(e.g. StandardScaler)."
            )


def call_builder(builder, kwargs, meta):
    """Call a model builder with its own kwargs plus the meta arguments it accepts.

    Meta arguments (``n_features``, ``n_outputs``, ``n_classes``) are passed
    when the builder's signature names them or takes ``**kwargs``; values the
    user gave in ``kwargs`` win.
    """
    try:
        params = inspect.signature(builder).parameters
    except (TypeError, ValueError):  # builtins, C callables
        params = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    call_kwargs = {k: v for k, v in meta.items() if (takes_any or k in params) and k not in kwargs}
    call_kwargs.update(kwargs)
    return builder(**call_kwargs)
