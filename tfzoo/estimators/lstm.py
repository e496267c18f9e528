"""LSTM estimators: forecasting/regression, sequence classification, text generation."""

from __future__ import annotations

import math
from numbers import Real

import keras
import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from tfzoo._validation import make_optimizer
from tfzoo.datasets.series import make_windows
from tfzoo.distribute import get_strategy
from tfzoo.estimators._base import (
    CALLBACKS,
    FRACTION,
    OPTIMIZER,
    PATH,
    POSITIVE_INT,
    RANDOM_STATE,
    STRATEGY,
    VERBOSE,
    NDInputMixin,
    build_optimizer,
)
from tfzoo.estimators._seeding import seeded
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
}


class _SequenceShape(NDInputMixin):
    def _resolve_sample_shape(self, seen, n_features):
        # 2-D X: each row is a univariate sequence of n_features steps.
        return seen if seen is not None else (n_features, 1)


class LSTMRegressor(_SequenceShape, KerasRegressorBase):
    """LSTM forecaster / sequence regressor on :func:`build_lstm_forecaster`.

    Three ways to give data:

    * ``fit(series)`` with ``y=None`` and ``window`` set: ``series`` is
      ``(T,)`` or ``(T, n_features)``; it is cut by
      :func:`tfzoo.datasets.make_windows` into windows of ``window`` steps,
      each predicting the next ``horizon`` steps of every column.
    * ``fit(X, y)`` with 3-D ``X`` ``(n, steps, n_features)``: ready windows.
    * ``fit(X, y)`` with 2-D ``X`` ``(n, steps)``: each row is a univariate
      window.

    ``predict`` takes windows (2-D or 3-D, with the fitted step count) and
    returns ``(n,)`` for one target, else ``(n, horizon * n_targets)``.

    Args:
        window: window length for the series mode (``y=None``).
        horizon: steps ahead in the series mode.
        units, num_layers, dropout, bidirectional: the LSTM encoder.
        Other parameters as :class:`tfzoo.KerasRegressor`.
    """

    _parameter_constraints: dict = {
        **KerasRegressorBase._parameter_constraints,
        **_ENCODER_CONSTRAINTS,
        "window": [POSITIVE_INT, None],
        "horizon": [POSITIVE_INT],
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
        X, y = self._windows_if_series(X, y)
        return self._fit(X, y, sample_weight, epochs=self.epochs, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """One epoch on windows ``(X, y)``, or on a series ``X`` when ``y`` is None."""
        X, y = self._windows_if_series(X, y)
        return super().partial_fit(X, y, sample_weight)

    def _windows_if_series(self, X, y):
        if y is not None:
            return X, y
        if self.window is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None; "
                "to fit on a series X instead, set window= (and horizon=)"
            )
        return make_windows(np.asarray(X, dtype=np.float64), self.window, self.horizon)

    def _build_keras_model(self, n_features, n_outputs, meta):
        steps, variables = self._set_sample_shape(n_features)
        return build_lstm_forecaster(
            window=steps,
            n_features=variables,
            horizon=1,
            n_targets=n_outputs,
            units=self.units,
            num_layers=self.num_layers,
            dropout=self.dropout,
            bidirectional=self.bidirectional,
        )


class LSTMClassifier(_SequenceShape, KerasClassifierBase):
    """Sequence classifier on :func:`build_lstm_classifier`.

    ``X`` is ``(n, steps, n_features)`` or, 2-D, ``(n, steps)`` univariate
    sequences. Parameters as :class:`LSTMRegressor` (without the series mode)
    plus ``class_weight``.
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

    The defaults (LSTM 384, batch 32, Adam 3e-3, dropout 0.15) are the
    configuration measured best on tiny Shakespeare in 15 minutes on a 2-core
    CPU (``benchmarks/char_rnn.py``: validation 1.485 nats/char); batch 32
    is where :class:`tfzoo.layers.FusedLSTM` trains fastest per character
    there, and Adam 3e-3 reached in 3 epochs the validation loss that 2e-3
    (dropout 0.1) reached in 5.

    Args:
        sequence_length: characters per training window.
        embedding_dim, units, num_layers, dropout: the :func:`build_char_rnn` model.
        epochs, batch_size, optimizer, learning_rate, lr_schedule, clipnorm,
        validation_fraction, callbacks, random_state, verbose, strategy,
        tensorboard_dir: training.

    Example:
        >>> gen = TextGenerator(epochs=5).fit(text)
        >>> gen.generate("To be", length=200, temperature=0.8)
        >>> gen.score(held_out)   # bits per character (lower is better)
    """

    _parameter_constraints: dict = {
        "sequence_length": [POSITIVE_INT],
        "embedding_dim": [POSITIVE_INT],
        "units": [POSITIVE_INT],
        "num_layers": [POSITIVE_INT],
        "dropout": [FRACTION],
        "epochs": [POSITIVE_INT],
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
        units=384,
        num_layers=1,
        dropout=0.15,
        epochs=10,
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
            raise ValueError(f"text has characters not in the vocabulary: {unknown[:20]}")
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
        """Learn ``text`` (a string, or a list of strings joined by newlines)."""
        import tensorflow as tf

        text = _as_text(text)
        if len(text) < 2:
            raise ValueError("TextGenerator needs a text of at least 2 characters")
        self.vocabulary_ = sorted(set(text))
        self._index = {c: i for i, c in enumerate(self.vocabulary_)}
        ids = self._encode(text)
        split = self._split_point(len(ids))
        val = None
        if self.validation_fraction > 0:
            val = self._windows(ids[split - 1 :])
        strategy = get_strategy(self.strategy)
        with seeded(self.random_state) as seed:
            train, steps, batch = self._training_windows(ids[:split], seed)
            with strategy.scope():
                model = build_char_rnn(
                    len(self.vocabulary_),
                    embedding_dim=self.embedding_dim,
                    units=self.units,
                    num_layers=self.num_layers,
                    dropout=self.dropout,
                    sequence_length=self.sequence_length,
                )
                model.compile(
                    self._optimizer(steps * self.epochs),
                    keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                )
                build_optimizer(model)
            val_ds = None
            if val is not None:
                val_ds = tf.data.Dataset.from_tensor_slices(val).batch(batch)
            callbacks = list(self.callbacks or [])
            if self.tensorboard_dir is not None:
                callbacks.append(TensorBoard(str(self.tensorboard_dir), write_graph=True))
            history = model.fit(
                train,
                epochs=self.epochs,
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

    def _training_windows(self, ids, seed):
        """Windows starting at a random offset each epoch, in a random order.

        Non-overlapping windows at a fixed offset show the model the same
        sequences every epoch; a new offset per epoch shows it new cuts of
        the text (less over-fitting) at no cost. Returns (dataset, steps, batch).
        """
        import tensorflow as tf

        n = self.sequence_length
        per_epoch = (len(ids) - n) // n  # windows available at any offset < n
        if per_epoch < 1:
            raise ValueError(f"text of {len(ids)} characters is too short for sequence_length={n}")
        batch = min(self.batch_size, per_epoch)
        steps = per_epoch // batch
        base = int(seed if seed is not None else np.random.default_rng().integers(2**31 - 1))
        ids_t = tf.constant(ids, tf.int32)
        span = tf.range(n + 1)[None, :]

        def epoch_windows(epoch):
            key = tf.stack([tf.constant(base, tf.int64), epoch])
            offset = tf.random.stateless_uniform([], key, maxval=n, dtype=tf.int64)
            order = tf.argsort(tf.random.stateless_uniform([per_epoch], key + 1))
            starts = tf.cast(offset, tf.int32) + tf.cast(order, tf.int32) * n
            return tf.data.Dataset.from_tensor_slices(tf.gather(ids_t, starts[:, None] + span))

        ds = (
            tf.data.Dataset.range(self.epochs)
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


def _as_text(text):
    """A string as is; a list of strings joined by newlines."""
    return text if isinstance(text, str) else "\n".join(text)
