"""LSTM estimators: forecasting/regression, sequence classification, text generation."""

from __future__ import annotations

import contextlib
import math
from numbers import Real

import keras
import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from tfzoo._backend import is_tensorflow_backend
from tfzoo._validation import check_int, make_optimizer
from tfzoo.datasets.series import make_windows
from tfzoo.distribute import get_strategy
from tfzoo.distribute.strategy import is_keras_distribution
from tfzoo.estimators import _runtime
from tfzoo.estimators._base import (
    CALLBACKS,
    FRACTION,
    OPTIMIZER,
    PATH,
    POSITIVE_INT,
    RANDOM_STATE,
    STRATEGY,
    VERBOSE,
    build_optimizer,
)
from tfzoo.estimators._seeding import seeded
from tfzoo.estimators._sequences import PAD, SequenceInputMixin, Sequences
from tfzoo.estimators._supervised import KerasClassifierBase, KerasRegressorBase
from tfzoo.estimators._tensorboard import TensorBoard
from tfzoo.models.lstm import (
    CharSampler,
    build_char_rnn,
    build_lstm_classifier,
    build_lstm_forecaster,
)

_ENCODER_CONSTRAINTS = {
    "units": [POSITIVE_INT],
    "num_layers": [POSITIVE_INT],
    "dropout": [FRACTION],
    "bidirectional": ["boolean"],
    "mask_value": [Real],
}


class LSTMRegressor(SequenceInputMixin, KerasRegressorBase):
    """LSTM forecaster / sequence regressor on :func:`build_lstm_forecaster`.

    Three ways to give data:

    * ``fit(series)`` with ``y=None`` and ``window`` set: ``series`` is
      ``(T,)`` or ``(T, n_features)``; it is cut by
      :func:`tfzoo.datasets.make_windows` into windows of ``window`` steps,
      each predicting the next ``horizon`` steps of every column.
    * ``fit(X, y)`` with 3-D ``X`` ``(n, steps, n_features)``: ready windows.
    * ``fit(X, y)`` with 2-D ``X`` ``(n, steps)``: each row is a univariate
      window.
    * ``fit(X, y)`` with ``X`` a list of sequences of any lengths (see below).

    ``predict`` takes windows (2-D, 3-D or a list, of any step count, except
    that a 2-D table must have the width of a 2-D table given to ``fit``; a
    pandas Series or DataFrame is one window in the series mode) and returns ``(n,)`` for one
    target, else ``(n, horizon * n_targets)``. In the series mode,
    ``score(series)`` windows the series as ``fit`` did, and
    :meth:`forecast` continues the fitted series (or a given one) from its
    end.

    Inputs and targets are standardised inside the estimator
    (``standardize=True``) and the predictions mapped back. In the series
    mode each window is taken relative to its last value (per variable) and
    divided by the spread of those differences over the series given to
    ``fit``, and the targets likewise: the model learns the change from
    "tomorrow = today", so the level and trend of a series (sales around
    100 and rising) do not matter. Windows given as ``(X, y)`` are scaled
    by each input variable's and each target column's mean and standard
    deviation instead (the targets need not be the inputs' variables).
    ``standardize=False`` trains on the values as given. Padding takes no
    part in the means and spreads.

    Sequences of different lengths: give ``X`` as a list of ``(steps_i,)``
    or ``(steps_i, n_features)`` arrays (any lengths), or as an array padded
    at the end with ``mask_value`` (a step is padding when every one of its
    values equals it). Padding is masked through the LSTM (``keras.layers.Masking``
    before :class:`tfzoo.layers.LSTMEncoder`), never read as data: a
    sequence gets the same prediction alone, in a batch with longer ones, or
    padded. The model takes any number of steps (``sample_shape_`` is
    ``(None, n_features)``), so ``predict`` takes sequences of lengths not seen
    in ``fit``. A list that NumPy stacks into one array (sequences of one
    length) is read as that array, as scikit-learn reads array-likes.
    ``mask_value`` defaults to NaN because no real value can be
    NaN (scikit-learn refuses it in data): with Keras's convention of 0.0, a
    real step of zeros (a quiet sensor, a day without sales) would be
    silently skipped. Set ``mask_value=0.0`` for arrays padded by
    ``keras.utils.pad_sequences(..., padding="post")``. Padding must follow a
    sequence's real steps (post-padding); a NaN among real steps is refused.

    ``n_features_in_`` counts features per step for a list or a 3-D ``X``;
    for a 2-D table of univariate sequences it is the table's width, and
    tables given later must have that width, as scikit-learn requires (a
    list of any lengths still works).

    Args:
        window: window length for the series mode (``y=None``).
        horizon: steps ahead in the series mode.
        units, num_layers, dropout, bidirectional: the LSTM encoder.
        mask_value: what padded steps of an array ``X`` hold (NaN by default;
            see above). Lists need no padding.
        standardize: scale inputs and targets inside the estimator.
        Other parameters as :class:`tfzoo.KerasRegressor`.

    Attributes:
        sample_shape_: ``(None, n_features)``: steps of any number.
        input_mean_, input_scale_: per input variable (``standardize=True``;
            the mean is 0 in the series mode, where windows are relative).
        target_mean_, target_scale_: per target column (likewise).
    """

    _parameter_constraints: dict = {
        **KerasRegressorBase._parameter_constraints,
        **_ENCODER_CONSTRAINTS,
        "window": [POSITIVE_INT, None],
        "horizon": [POSITIVE_INT],
        "standardize": ["boolean"],
    }

    def __init__(
        self,
        *,
        window=None,
        horizon=1,
        units=32,
        num_layers=1,
        dropout=0.0,
        bidirectional=False,
        mask_value=np.nan,
        standardize=True,
        epochs=50,
        batch_size=32,
        optimizer="adam",
        learning_rate=0.005,
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
        self.window = window
        self.horizon = horizon
        self.units = units
        self.num_layers = num_layers
        self.dropout = dropout
        self.bidirectional = bidirectional
        self.mask_value = mask_value
        self.standardize = standardize
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

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Fit on windows ``(X, y)``, or on a series ``X`` when ``y`` is None."""
        series = X if y is None else None
        X, y = self._windows_if_series(X, y)
        X = self._sequences(X)
        if not (self.warm_start and hasattr(self, "model_")):
            self._fit_scaling(X, y, relative=series is not None)
        self._fit(
            self._scale_x(X),
            self._scale_y(y, X),
            sample_weight,
            epochs=self.epochs,
            incremental=False,
        )
        self._remember_series(series)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """One epoch on windows ``(X, y)``, or on a series ``X`` when ``y`` is None."""
        series = X if y is None else None
        X, y = self._windows_if_series(X, y)
        X = self._sequences(X)
        if not hasattr(self, "model_"):
            self._fit_scaling(X, y, relative=series is not None)
        super().partial_fit(self._scale_x(X), self._scale_y(y, X), sample_weight)
        self._remember_series(series)
        return self

    def predict(self, X):
        """Forecasts for windows ``X`` in the units of ``y`` (see the class docstring)."""
        check_is_fitted(self, "model_")
        if getattr(self, "_series_tail", None) is not None:
            X = self._as_windows(X)
        X = self._sequences(X)
        return self._unscale_y(super().predict(self._scale_x(X)), X)

    def score(self, X, y=None, sample_weight=None):
        """R² of the forecasts: on windows ``(X, y)``, or on a series ``X`` (``y=None``)
        cut into windows as ``fit`` cuts it."""
        X, y = self._windows_if_series(X, y)
        return super().score(X, y, sample_weight=sample_weight)

    def forecast(self, steps, series=None):
        """The next ``steps`` values after the end of ``series`` (default: the fitted one).

        Each prediction of ``horizon`` steps is appended to the series and the
        window moves on, until ``steps`` values are predicted (recursive
        forecasting). Needs the series mode (``fit(series)`` with ``window``).

        Returns:
            A pandas Series (one variable) or DataFrame whose index continues
            the series' ``DatetimeIndex`` (or integer index) when it had one,
            else a NumPy array ``(steps,)`` / ``(steps, n_features)``.
        """
        check_is_fitted(self, "model_")
        if not hasattr(self, "_series_tail"):
            raise ValueError(
                "forecast needs an estimator fitted on a series (fit(series) with window=); "
                "this one was fitted on (X, y) windows"
            )
        steps = check_int(steps, "steps")
        if series is None:
            tail, index, columns = self._series_tail, self._series_index, self._series_columns
        else:
            tail, index, columns = _series_parts(series)
            if tail.shape[1] != self._series_tail.shape[1] or tail.shape[0] < self.window:
                raise ValueError(
                    f"forecast needs a series of at least window={self.window} steps of "
                    f"{self._series_tail.shape[1]} variable(s), got shape {tail.shape}"
                )
        history = np.asarray(tail[-self.window :], dtype=np.float64)
        n_vars = history.shape[1]
        out = []
        while len(out) < steps:
            pred = self.predict(history[None, -self.window :])
            block = np.asarray(pred, dtype=np.float64).reshape(self.horizon, n_vars)
            out.extend(block)
            history = np.concatenate([history, block], axis=0)
        values = np.asarray(out[:steps])
        return _continue_like(values, index, columns)

    # ---------------------------------------------------------------- helpers
    def _as_windows(self, X):
        """In the series mode a pandas Series/DataFrame is one window (steps, variables)."""
        if hasattr(X, "iloc") and hasattr(X, "to_numpy"):
            arr = X.to_numpy(dtype=np.float64)
            return arr.reshape(1, arr.shape[0], -1)
        return X

    def _windows_if_series(self, X, y):
        if y is not None:
            return X, y
        if self.window is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None; "
                "to fit on a series X instead, set window= (and horizon=)"
            )
        values, _, _ = _series_parts(X)
        X, y = make_windows(values, self.window, self.horizon)
        # one target column: a 1-D y, so predict returns (n,) as documented
        return X, (y[:, 0] if y.shape[1] == 1 else y)

    def _remember_series(self, series):
        if series is None:
            for name in ("_series_tail", "_series_index", "_series_columns"):
                self.__dict__.pop(name, None)
            return
        values, index, columns = _series_parts(series)
        self._series_tail = values[-self.window :].copy()
        self._series_index = index
        self._series_columns = columns

    def _fit_scaling(self, X, y, relative):
        for name in ("input_mean_", "input_scale_", "target_mean_", "target_scale_"):
            self.__dict__.pop(name, None)
        self._relative = False
        if not self.standardize or not isinstance(X, Sequences):
            return  # plain values; not sequences: fit's own validation says what is wrong
        try:
            y = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError):
            return
        real = X.values[X.real]  # (real steps, variables): padding is left out
        if (
            y.ndim == 0
            or len(y) != len(X.values)
            or not (np.all(np.isfinite(real)) and np.all(np.isfinite(y)))
        ):
            return  # invalid input is left to fit's own checks
        n_vars = real.shape[-1]
        y2 = y.reshape(len(y), -1)
        if relative:
            last = X.last()
            self._relative = True
            self.input_mean_ = np.zeros(n_vars)
            self.input_scale_ = _safe_scale((X.values - last[:, None, :])[X.real].std(0))
            self.target_mean_ = np.zeros(y2.shape[1])
            self.target_scale_ = _safe_scale((y2 - self._last_per_target(last, y2)).std(0))
        else:
            self.input_mean_ = real.mean(axis=0)
            self.input_scale_ = _safe_scale(real.std(axis=0))
            self.target_mean_ = y2.mean(axis=0)
            self.target_scale_ = _safe_scale(y2.std(axis=0))

    @staticmethod
    def _last_per_target(last, y2):
        """Each sequence's last real step repeated for each of the horizon's steps."""
        return np.tile(last, (1, y2.shape[1] // last.shape[-1]))

    def _scaling_applies(self, X):
        if (
            not hasattr(self, "input_mean_")
            or not isinstance(X, Sequences)
            or X.values.shape[-1] != self.input_mean_.shape[0]
        ):
            return None  # shape errors are reported by validation
        return X

    def _scale_x(self, X):
        seq = self._scaling_applies(X)
        if seq is None:
            return X
        values = seq.values
        if self._relative:
            values = values - seq.last()[:, None, :]
        # padding (NaN) stays padding
        return seq.with_values((values - self.input_mean_) / self.input_scale_)

    def _scale_y(self, y, X):
        seq = self._scaling_applies(X)
        if seq is None or not hasattr(self, "target_mean_") or y is None:
            return y
        y = np.asarray(y, dtype=np.float64)
        y2 = y.reshape(len(y), -1)
        if self._relative:
            y2 = y2 - self._last_per_target(seq.last(), y2)
        return ((y2 - self.target_mean_) / self.target_scale_).reshape(y.shape)

    def _unscale_y(self, pred, X):
        seq = self._scaling_applies(X)
        if seq is None or not hasattr(self, "target_mean_"):
            return pred
        pred = np.asarray(pred, dtype=np.float64)
        p2 = pred.reshape(len(pred), -1) * self.target_scale_ + self.target_mean_
        if self._relative:
            p2 = p2 + self._last_per_target(seq.last(), p2)
        return p2.reshape(pred.shape)

    def _build_keras_model(self, n_features, n_outputs, meta):
        steps, variables = self._set_sample_shape(n_features)
        return build_lstm_forecaster(
            window=steps,
            mask_value=PAD,
            n_features=variables,
            horizon=1,
            n_targets=n_outputs,
            units=self.units,
            num_layers=self.num_layers,
            dropout=self.dropout,
            bidirectional=self.bidirectional,
        )


class LSTMClassifier(SequenceInputMixin, KerasClassifierBase):
    """Sequence classifier on :func:`build_lstm_classifier`.

    ``X`` is ``(n, steps, n_features)``, 2-D ``(n, steps)`` univariate
    sequences, or a list of sequences of any lengths, ``(steps_i,)`` or
    ``(steps_i, n_features)`` each; padding, ``mask_value`` and
    ``n_features_in_`` as in :class:`LSTMRegressor`. Parameters as
    :class:`LSTMRegressor` (without the series mode and the scaling) plus
    ``class_weight``.

    Example:
        >>> clf = LSTMClassifier().fit([np.ones((5, 2)), np.zeros((30, 2))], ["a", "b"])
        >>> clf.predict([np.ones((12, 2))])  # any length
    """

    _parameter_constraints: dict = {
        **KerasClassifierBase._parameter_constraints,
        **_ENCODER_CONSTRAINTS,
    }

    def __init__(
        self,
        *,
        units=32,
        num_layers=1,
        dropout=0.0,
        bidirectional=False,
        mask_value=np.nan,
        epochs=50,
        batch_size=32,
        optimizer="adam",
        learning_rate=0.005,
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
        self.units = units
        self.num_layers = num_layers
        self.dropout = dropout
        self.bidirectional = bidirectional
        self.mask_value = mask_value
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
        steps, variables = self._set_sample_shape(n_features)
        return build_lstm_classifier(
            sequence_length=steps,
            mask_value=PAD,
            n_features=variables,
            num_classes=meta["n_classes"],
            units=self.units,
            num_layers=self.num_layers,
            dropout=self.dropout,
            bidirectional=self.bidirectional,
        )


class TextGenerator(BaseEstimator):
    """Character-level language model: ``fit(text)``, ``generate``, ``score``.

    The text is mapped to character ids (``vocabulary_``); training pairs are
    ``sequence_length``-character windows and the same windows shifted by one:
    non-overlapping, cut at a new random offset every epoch and shuffled.
    The learning rate follows a cosine decay over all steps by default
    (``lr_schedule="constant"`` keeps it fixed). The last
    ``validation_fraction`` of the text is held out; ``history_`` has the
    training and validation loss in nats per character.

    The defaults (batch 32, Adam 3e-3, dropout 0.15, and for texts of
    500,000 characters or more LSTM 384) are the
    configuration measured best on tiny Shakespeare in 15 minutes on a 2-core
    CPU (``benchmarks/char_rnn.py``: validation 1.485 nats/char); batch 32
    is where :class:`tfzoo.layers.FusedLSTM` trains fastest per character
    there, and Adam 3e-3 reached in 3 epochs the validation loss that 2e-3
    (dropout 0.1) reached in 5.

    Args:
        sequence_length: characters per training window.
        units: LSTM width, or ``"auto"`` (default): chosen from the length
            of the text given to ``fit`` (``units_``, see
            :func:`auto_char_rnn_units`): 128 below 100,000 characters, 256
            below 500,000, 384 from there (tiny Shakespeare's 1.1 MB). On a
            40,000-character text a 384-wide model is 7x slower per step than
            a 128-wide one, and the 128-wide one trained twice the steps
            reaches the same held-out loss in a third of the time
            (``benchmarks/small_data.py``).
        embedding_dim, num_layers, dropout: the :func:`build_char_rnn` model.
        epochs: passes over the text, or ``"auto"`` (default): enough for
            about 1,000 training steps and at least 10 epochs (tiny
            Shakespeare: 10; 40,000 characters: 91). ``n_iter_`` is the
            number that ran. Small texts need the steps: 10 epochs of a
            40,000-character text are 110 steps, far from trained.
        batch_size, optimizer, learning_rate, lr_schedule, clipnorm,
        validation_fraction, callbacks, random_state, verbose, strategy,
        tensorboard_dir: training.

    Example:
        >>> gen = TextGenerator(epochs=5).fit(text)
        >>> gen.generate("To be", length=200, temperature=0.8)
        >>> gen.bits_per_character(held_out)   # lower is better; score() is its negative
    """

    _parameter_constraints: dict = {
        "sequence_length": [POSITIVE_INT],
        "embedding_dim": [POSITIVE_INT],
        "units": [POSITIVE_INT, StrOptions({"auto"})],
        "num_layers": [POSITIVE_INT],
        "dropout": [FRACTION],
        "epochs": [POSITIVE_INT, StrOptions({"auto"})],
        "batch_size": [POSITIVE_INT],
        "optimizer": OPTIMIZER,
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"constant", "cosine"})],
        "clipnorm": [Interval(Real, 0, None, closed="neither"), None],
        "validation_fraction": [FRACTION],
        "callbacks": CALLBACKS,
        "random_state": RANDOM_STATE,
        "verbose": VERBOSE,
        "strategy": STRATEGY,
        "tensorboard_dir": PATH,
    }

    def __init__(
        self,
        *,
        sequence_length=100,
        embedding_dim=64,
        units="auto",
        num_layers=1,
        dropout=0.15,
        epochs="auto",
        batch_size=32,
        optimizer="adam",
        learning_rate=0.003,
        lr_schedule="cosine",
        clipnorm=None,
        validation_fraction=0.1,
        callbacks=None,
        random_state=None,
        verbose=0,
        strategy="auto",
        tensorboard_dir=None,
    ):
        self.sequence_length = sequence_length
        self.embedding_dim = embedding_dim
        self.units = units
        self.num_layers = num_layers
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.clipnorm = clipnorm
        self.validation_fraction = validation_fraction
        self.callbacks = callbacks
        self.random_state = random_state
        self.verbose = verbose
        self.strategy = strategy
        self.tensorboard_dir = tensorboard_dir

    def _encode(self, text):
        unknown = sorted(set(text) - set(self._index))
        if unknown:
            raise ValueError(
                f"text has characters not in the vocabulary: {unknown[:20]} (the model "
                f"knows the {len(self._index)} characters of vocabulary_ from its training "
                "text); remove or replace them"
            )
        return np.fromiter((self._index[c] for c in text), dtype=np.int32, count=len(text))

    def _windows(self, ids):
        n = self.sequence_length
        count = (len(ids) - 1) // n
        if count < 1:
            raise ValueError(f"text of {len(ids)} characters is too short for sequence_length={n}")
        starts = np.arange(count) * n
        x = np.stack([ids[s : s + n] for s in starts])
        y = np.stack([ids[s + 1 : s + n + 1] for s in starts])
        return x, y

    def _min_length(self):
        """Fewest characters ``fit`` can train (and validate) on."""
        n, fraction = self.sequence_length, self.validation_fraction
        length = 2 * n
        if fraction > 0:
            length = max(length, math.ceil(n / fraction))
        # Training needs 2n characters before the split, validation n after it.
        while self._split_point(length) < 2 * n or (
            fraction > 0 and length - self._split_point(length) < n
        ):
            length += 1
        return length

    def _split_point(self, length):
        """Index of the first held-out character of a text of ``length`` characters."""
        return length - int(length * self.validation_fraction)

    def held_out_text(self, text):
        """The part of ``text`` that ``fit`` holds out for validation.

        It starts one character before the split, so its first prediction is
        the first held-out character: ``score(held_out_text(text))`` is the
        validation loss with the whole held-out text as context, in bits.
        """
        text = _as_text(text)
        return text[self._split_point(len(text)) - 1 :]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, text, y=None):
        """Learn ``text`` (a string, or a list of strings joined by newlines).

        Bytes are refused (decode them first, e.g. ``data.decode("utf-8")``):
        the model learns characters, and only the caller knows the encoding.
        The text needs at least 2 distinct characters and enough length for
        one training window of ``sequence_length`` at every offset (``2 *
        sequence_length`` characters) plus, with ``validation_fraction > 0``,
        ``sequence_length`` held-out characters.

        Under a ``keras.distribution`` (Keras's JAX backend: ``strategy="auto"``
        with several devices, or a ``ModelParallel`` wrapped by
        :func:`tfzoo.distribute.get_strategy`) the model is built and trained in
        its scope; a batch that does not split evenly over its batch axis is
        padded with rows weighted 0 (the others reweighted), so it trains as on
        one device.
        """
        text = _as_text(text)
        needed = self._min_length()
        if len(text) < needed:
            n = self.sequence_length
            parts = f"{2 * n} characters to train on (2 * sequence_length)"
            if self.validation_fraction:
                parts += (
                    f" and {n} in the held-out last {self.validation_fraction:g} of the text "
                    "(validation_fraction)"
                )
            raise ValueError(
                f"text of {len(text)} characters is too short for sequence_length={n}: "
                f"fit needs at least {needed} characters, for {parts}"
            )
        if len(set(text)) < 2:
            raise ValueError(
                "TextGenerator needs a text with at least 2 distinct characters (there is "
                f"nothing to predict otherwise); got {len(text)} characters, all {text[0]!r}"
            )
        self.units_ = auto_char_rnn_units(len(text)) if self.units == "auto" else self.units
        self.vocabulary_ = sorted(set(text))
        self._index = {c: i for i, c in enumerate(self.vocabulary_)}
        ids = self._encode(text)
        split = self._split_point(len(ids))
        val = None
        if self.validation_fraction > 0:
            val = self._windows(ids[split - 1 :])
        strategy = get_strategy(self.strategy)
        # keras.distribution (JAX) shards each batch over its batch axis when fit
        # runs in its scope: batches must split evenly (padded otherwise)
        spmd = is_keras_distribution(strategy)
        pad_to = strategy.num_replicas_in_sync if spmd else 1
        with seeded(self.random_state) as seed:
            self.n_iter_ = self._epochs_for(split)
            train, steps, batch = self._training_windows(ids[:split], seed, pad_to)
            with strategy.scope():
                model = build_char_rnn(
                    len(self.vocabulary_),
                    embedding_dim=self.embedding_dim,
                    units=self.units_,
                    num_layers=self.num_layers,
                    dropout=self.dropout,
                    sequence_length=self.sequence_length,
                )
                model.compile(
                    self._optimizer(steps * self.n_iter_),
                    keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                )
                build_optimizer(model)
            val_ds = None
            if val is not None and is_tensorflow_backend():
                import tensorflow as tf

                val_ds = tf.data.Dataset.from_tensor_slices(val).batch(batch)
            elif val is not None:
                val_ds = (
                    _runtime.ArrayBatches(*val, None, batch)
                    if pad_to == 1
                    else HeldOutWindows(*val, batch, pad_to)
                )
            callbacks = list(self.callbacks or [])
            if self.tensorboard_dir is not None:
                callbacks.append(TensorBoard(str(self.tensorboard_dir), write_graph=True))
            with strategy.scope() if spmd else contextlib.nullcontext():
                history = model.fit(
                    train,
                    epochs=self.n_iter_,
                    steps_per_epoch=steps,
                    validation_data=val_ds,
                    callbacks=callbacks,
                    verbose=self.verbose,
                    shuffle=False,
                )
        self.model_ = model
        self.history_ = {k: [float(v) for v in vals] for k, vals in history.history.items()}
        self._sampler = CharSampler(model)
        return self

    def _optimizer(self, total_steps):
        lr = self.learning_rate
        if self.lr_schedule == "cosine":
            lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=total_steps, alpha=0.05)
        return make_optimizer(self.optimizer, lr, clipnorm=self.clipnorm)

    def _epochs_for(self, n_train):
        """``epochs``, or for ``"auto"`` about ``TEXT_AUTO_STEPS`` steps and at least 10 epochs."""
        if self.epochs != "auto":
            return self.epochs
        per_epoch = max(1, (n_train - self.sequence_length) // self.sequence_length)
        steps = max(1, per_epoch // min(self.batch_size, per_epoch))
        return max(10, math.ceil(TEXT_AUTO_STEPS / steps))

    def _training_windows(self, ids, seed, pad_to=1):
        """Windows starting at a random offset each epoch, in a random order.

        Non-overlapping windows at a fixed offset show the model the same
        sequences every epoch; a new offset per epoch shows it new cuts of
        the text (less over-fitting) at no cost. Returns (dataset, steps, batch):
        a ``tf.data`` pipeline on TensorFlow, a :class:`CharWindows` elsewhere
        (its batches padded to a multiple of ``pad_to`` rows, see there).
        """
        n = self.sequence_length
        per_epoch = (len(ids) - n) // n  # windows available at any offset < n
        if per_epoch < 1:
            raise ValueError(f"text of {len(ids)} characters is too short for sequence_length={n}")
        batch = min(self.batch_size, per_epoch)
        steps = per_epoch // batch
        base = int(seed if seed is not None else np.random.default_rng().integers(2**31 - 1))
        if not is_tensorflow_backend():
            return CharWindows(ids, n, batch, steps, base, pad_to), steps, batch
        import tensorflow as tf

        ids_t = tf.constant(ids, tf.int32)
        span = tf.range(n + 1)[None, :]

        def epoch_windows(epoch):
            key = tf.stack([tf.constant(base, tf.int64), epoch])
            offset = tf.random.stateless_uniform([], key, maxval=n, dtype=tf.int64)
            order = tf.argsort(tf.random.stateless_uniform([per_epoch], key + 1))
            starts = tf.cast(offset, tf.int32) + tf.cast(order, tf.int32) * n
            return tf.data.Dataset.from_tensor_slices(tf.gather(ids_t, starts[:, None] + span))

        ds = (
            tf.data.Dataset.range(self.n_iter_)
            .flat_map(epoch_windows)
            .map(lambda s: (s[:-1], s[1:]), num_parallel_calls=tf.data.AUTOTUNE)
            .batch(batch, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE)
        )
        return ds, steps, batch

    def generate(self, prompt, length=200, temperature=1.0, random_state=None):
        """``prompt`` followed by ``length`` sampled characters."""
        check_is_fitted(self, "model_")
        ids = self._encode(prompt)
        new = self._sampler.generate(ids, length, temperature=temperature, seed=random_state)
        return prompt + "".join(self.vocabulary_[i] for i in new)

    def score(self, text, y=None):
        """Minus the bits per character of ``text``: greater is better.

        scikit-learn's model selection (``GridSearchCV``, ``cross_val_score``)
        maximises ``score``, so it returns ``-bits_per_character(text)``; the
        plain figure (lower is better) is :meth:`bits_per_character`.
        """
        return -self.bits_per_character(text)

    def bits_per_character(self, text):
        """Bits per character of ``text`` under the model (lower is better).

        Each character is predicted from all of ``text`` before it: the LSTM
        states carry over the whole text (``CharSampler.log_likelihood``), so
        the figure is ``-log2 p(text) / (len(text) - 1)`` with no window cut.
        ``history_["val_loss"]`` is the other usual figure: nats per character
        over separate ``sequence_length`` windows, each started from a zero
        state, which counts the first characters of every window with little
        context and so reads higher.
        """
        check_is_fitted(self, "model_")
        ids = self._encode(_as_text(text))
        if ids.size < 2:
            raise ValueError("score needs a text of at least 2 characters")
        nats = -self._sampler.log_likelihood(ids).mean()
        return float(nats / math.log(2))

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_sampler", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "model_" in state:
            self._sampler = CharSampler(self.model_)


#: ``TextGenerator(epochs="auto")`` trains for about this many steps (at least 10 epochs).
TEXT_AUTO_STEPS = 1000

#: ``TextGenerator(units="auto")``: (fewest characters, LSTM units), largest first.
AUTO_UNITS = ((500_000, 384), (100_000, 256), (0, 128))


def auto_char_rnn_units(n_chars):
    """The LSTM width ``TextGenerator(units="auto")`` uses for a text of ``n_chars``.

    About one parameter per training character, the usual rule for
    character models, in three steps: 128 units (about 100,000 parameters
    with a 64-wide embedding and ~65 characters) below 100,000 characters,
    256 below 500,000, 384 (the width measured best on the 1.1 MB tiny
    Shakespeare) from there.
    """
    for least, units in AUTO_UNITS:
        if n_chars >= least:
            return units
    return AUTO_UNITS[-1][1]


def _safe_scale(std):
    """Standard deviations usable as divisors (a constant column keeps scale 1)."""
    std = np.asarray(std, dtype=np.float64)
    return np.where(std > 0, std, 1.0)


def _series_parts(series):
    """``(values (T, n_features), index or None, columns or None)`` of a series."""
    index = columns = None
    if hasattr(series, "index") and hasattr(series, "to_numpy"):
        index = series.index
        columns = getattr(series, "columns", None)
        if columns is None:
            columns = getattr(series, "name", None)
        values = series.to_numpy(dtype=np.float64)
    else:
        values = np.asarray(series, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise ValueError(f"series must be (T,) or (T, n_features), got shape {values.shape}")
    return values, index, columns


def _continue_like(values, index, columns):
    """``values`` labelled with the steps after ``index`` (as the input was given)."""
    if index is None:
        return values[:, 0] if values.shape[1] == 1 and columns is None else values
    import pandas as pd

    steps = len(values)
    if isinstance(index, pd.DatetimeIndex):
        freq = index.freq or (pd.infer_freq(index) if len(index) >= 3 else None)
        if freq is None:
            raise ValueError(
                "forecast cannot continue a DatetimeIndex without a regular frequency; "
                "give the series an index with a freq (e.g. series.asfreq('D'))"
            )
        new_index = pd.date_range(index[-1], periods=steps + 1, freq=freq)[1:]
    elif isinstance(index, pd.RangeIndex) or pd.api.types.is_integer_dtype(index):
        step = index[-1] - index[-2] if len(index) > 1 else 1
        new_index = pd.RangeIndex(index[-1] + step, index[-1] + step * (steps + 1), step)
    else:
        new_index = pd.RangeIndex(steps)
    if isinstance(columns, pd.Index):
        return pd.DataFrame(values, index=new_index, columns=columns)
    return pd.Series(values[:, 0], index=new_index, name=columns)


def _as_text(text):
    """A string as is; a list (or other iterable) of strings joined by newlines."""
    if isinstance(text, str):
        return text
    if isinstance(text, (bytes, bytearray)):
        raise TypeError(
            f"text must be a str (or a list of str), got {type(text).__name__}: decode it "
            "first, e.g. text.decode('utf-8')"
        )
    try:
        items = list(text)
    except TypeError:
        raise TypeError(
            f"text must be a str (or a list of str), got {type(text).__name__}"
        ) from None
    for item in items:
        if not isinstance(item, str):
            raise TypeError(
                f"text must be a str or a list of str, got a {type(text).__name__} holding "
                f"{type(item).__name__} {item!r:.40}"
            )
    return "\n".join(items)


class CharWindows(keras.utils.PyDataset):
    """:meth:`TextGenerator._training_windows` off TensorFlow, in NumPy.

    Each epoch draws, from ``(seed, epoch)``, an offset below ``n`` and an
    order of the ``per_epoch`` windows ``ids[offset + k n : offset + k n + n + 1]``;
    a batch is ``batch`` of them split into inputs and next characters.
    With ``pad_to`` > 1 (a ``keras.distribution`` over that many devices on its
    batch axis) and a ``batch`` that is not a multiple of it, every batch is
    padded to the next multiple with copies of its first windows weighted 0,
    the real ones weighted so that the mean loss is theirs
    (:func:`tfzoo.estimators._runtime.pad_batch`).
    """

    def __init__(self, ids, n, batch, steps, seed, pad_to=1):
        super().__init__(workers=1, use_multiprocessing=False)
        self.ids = np.asarray(ids, dtype=np.int32)
        self.n, self.batch, self.steps, self.seed = n, batch, steps, seed
        self.pad_to = int(pad_to)
        self.per_epoch = (len(self.ids) - n) // n
        self.span = np.arange(n + 1)[None, :]
        self.epoch = 0
        self._draw()

    def _draw(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        offset = int(rng.integers(self.n))
        self.starts = offset + rng.permutation(self.per_epoch) * self.n

    @property
    def num_batches(self):
        return self.steps

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        starts = self.starts[index * self.batch : (index + 1) * self.batch]
        windows = self.ids[starts[:, None] + self.span]
        if self.batch % self.pad_to:
            return _pad_windows(windows[:, :-1], windows[:, 1:], self.pad_to)
        return windows[:, :-1], windows[:, 1:]

    def on_epoch_end(self):
        self.epoch += 1
        self._draw()


def _pad_windows(x, y, multiple):
    """Windows ``(x, y)`` padded to a multiple of ``multiple`` rows, with a weight per character.

    :func:`tfzoo.estimators._runtime.pad_batch`'s row weights, repeated over the
    window (Keras does not broadcast ``(B,)`` weights over ``(B, n)`` targets).
    """
    x, y, w = _runtime.pad_batch(x, y, None, multiple)
    return x, y, np.repeat(w[:, None], y.shape[1], axis=1)


class HeldOutWindows(keras.utils.PyDataset):
    """:class:`TextGenerator`'s held-out windows in batches, under a ``keras.distribution``.

    Every batch (the last, smaller one included) is padded to a multiple of
    ``pad_to`` rows as in :class:`CharWindows`, so that it splits over the
    distribution's batch axis and its mean loss is that of its real windows.
    """

    def __init__(self, x, y, batch, pad_to):
        super().__init__(workers=1, use_multiprocessing=False)
        self.x, self.y = x, y
        self.batch, self.pad_to = int(batch), int(pad_to)

    def __len__(self):
        return math.ceil(len(self.x) / self.batch)

    def __getitem__(self, index):
        rows = slice(index * self.batch, (index + 1) * self.batch)
        return _pad_windows(self.x[rows], self.y[rows], self.pad_to)
