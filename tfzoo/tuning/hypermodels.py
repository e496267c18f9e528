"""One keras-tuner HyperModel per tfzoo builder.

Each stores the fixed structure (input and output sizes) in ``__init__`` and
declares every tunable in ``build(hp)`` with an explicit ``default=`` equal to
the builder's (or, for training settings, the matching estimator's) default,
so an untuned build is the builder's model.
"""

from __future__ import annotations

import keras
import keras_tuner as kt

from tfzoo._validation import make_optimizer
from tfzoo.models import (
    build_char_rnn,
    build_embedding_recommender,
    build_linear_regression,
    build_lstm_classifier,
    build_lstm_forecaster,
    build_mask_rcnn,
    build_perceptron,
    build_small_cnn,
)


def _optimizer(hp, default_lr, choices=("adam", "sgd"), default="adam"):
    name = hp.Choice("optimizer", list(choices), default=default)
    lr = hp.Float("learning_rate", 1e-4, 1e-1, sampling="log", default=default_lr)
    return make_optimizer(name, lr)


class LinearRegressionHyperModel(kt.HyperModel):
    """Linear regression: ``l2`` (ridge strength per sample) and the optimizer."""

    def __init__(self, n_features, n_outputs=1, fit_intercept=True, **kwargs):
        super().__init__(**kwargs)
        self.n_features = n_features
        self.n_outputs = n_outputs
        self.fit_intercept = fit_intercept

    def build(self, hp):
        l2 = hp.Float("l2", 0.0, 1.0, default=0.0)
        model = build_linear_regression(
            self.n_features,
            n_outputs=self.n_outputs,
            fit_intercept=self.fit_intercept,
            kernel_regularizer=keras.regularizers.L2(l2) if l2 > 0 else None,
        )
        model.compile(_optimizer(hp, 0.01), "mse")
        return model


class PerceptronHyperModel(kt.HyperModel):
    """The perceptron: hidden width and activation, optimizer and learning rate.

    The default loss follows the output: binary cross-entropy for a sigmoid,
    sparse categorical cross-entropy for a softmax (integer labels ``0 …
    n_outputs-1``, as tfzoo's classifiers feed them), else mean squared error.
    """

    def __init__(self, n_features, n_outputs=1, output_activation="sigmoid", loss=None, **kwargs):
        super().__init__(**kwargs)
        self.n_features = n_features
        self.n_outputs = n_outputs
        self.output_activation = output_activation
        self.loss = loss or {
            "sigmoid": "binary_crossentropy",
            "softmax": "sparse_categorical_crossentropy",
        }.get(output_activation, "mse")

    def build(self, hp):
        model = build_perceptron(
            self.n_features,
            hidden_units=hp.Int("hidden_units", 1, 64, default=2),
            hidden_activation=hp.Choice(
                "hidden_activation", ["tanh", "relu", "sigmoid"], default="tanh"
            ),
            output_activation=self.output_activation,
            n_outputs=self.n_outputs,
        )
        model.compile(_optimizer(hp, 0.01), self.loss)
        return model


class SmallCNNHyperModel(kt.HyperModel):
    """The small CNN: filters per convolution, dense width, batch norm, dropout, learning rate."""

    def __init__(self, input_shape=(28, 28, 1), num_classes=10, **kwargs):
        super().__init__(**kwargs)
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes

    def build(self, hp):
        filters = (
            hp.Int("filters1", 4, 64, step=4, default=16),
            hp.Int("filters2", 4, 64, step=4, default=8),
            hp.Int("filters3", 4, 64, step=4, default=12),
        )
        model = build_small_cnn(
            self.input_shape,
            self.num_classes,
            filters=filters,
            dense_units=hp.Int("dense_units", 32, 512, step=8, default=200),
            batch_norm=hp.Boolean("batch_norm", default=False),
            dropout=hp.Float("dropout", 0.0, 0.5, step=0.1, default=0.0),
        )
        model.compile(_optimizer(hp, 0.004), "sparse_categorical_crossentropy", ["accuracy"])
        return model


class _LSTMHyper(kt.HyperModel):
    def _encoder(self, hp):
        return dict(
            units=hp.Int("units", 8, 512, step=8, default=64),
            num_layers=hp.Int("num_layers", 1, 3, default=1),
            dropout=hp.Float("dropout", 0.0, 0.5, step=0.1, default=0.0),
            bidirectional=hp.Boolean("bidirectional", default=False),
        )


class LSTMForecasterHyperModel(_LSTMHyper):
    """The LSTM forecaster: units, layers, dropout, bidirectional, learning rate."""

    def __init__(self, window, n_features=1, horizon=1, n_targets=None, **kwargs):
        super().__init__(**kwargs)
        self.window, self.n_features = window, n_features
        self.horizon, self.n_targets = horizon, n_targets

    def build(self, hp):
        model = build_lstm_forecaster(
            self.window, self.n_features, self.horizon, self.n_targets, **self._encoder(hp)
        )
        model.compile(_optimizer(hp, 0.005), "mse")
        return model


class LSTMClassifierHyperModel(_LSTMHyper):
    """The LSTM sequence classifier: units, layers, dropout, bidirectional, learning rate."""

    def __init__(self, sequence_length=None, n_features=1, num_classes=2, **kwargs):
        super().__init__(**kwargs)
        self.sequence_length, self.n_features = sequence_length, n_features
        self.num_classes = num_classes

    def build(self, hp):
        model = build_lstm_classifier(
            self.sequence_length, self.n_features, self.num_classes, **self._encoder(hp)
        )
        model.compile(_optimizer(hp, 0.005), "sparse_categorical_crossentropy", ["accuracy"])
        return model


class CharRNNHyperModel(kt.HyperModel):
    """The char-RNN: embedding size, units, layers, dropout, learning rate."""

    def __init__(self, vocab_size, sequence_length=None, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.sequence_length = vocab_size, sequence_length

    def build(self, hp):
        model = build_char_rnn(
            self.vocab_size,
            embedding_dim=hp.Int("embedding_dim", 8, 256, step=8, default=64),
            units=hp.Int("units", 32, 1024, step=32, default=384),
            num_layers=hp.Int("num_layers", 1, 3, default=1),
            dropout=hp.Float("dropout", 0.0, 0.5, step=0.1, default=0.0),
            sequence_length=self.sequence_length,
        )
        model.compile(
            _optimizer(hp, 0.003),  # TextGenerator's learning rate
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        return model


class EmbeddingRecommenderHyperModel(kt.HyperModel):
    """The embedding recommender: vector length, L2 penalty, optimizer and learning rate.

    ``loss`` is ``"mse"`` for ratings; for implicit feedback pass
    ``keras.losses.BinaryCrossentropy(from_logits=True)``.
    """

    def __init__(self, n_users, n_items, loss="mse", global_bias=0.0, **kwargs):
        super().__init__(**kwargs)
        self.n_users, self.n_items = n_users, n_items
        self.loss, self.global_bias = loss, global_bias

    def build(self, hp):
        model = build_embedding_recommender(
            self.n_users,
            self.n_items,
            embedding_dim=hp.Int("embedding_dim", 4, 128, step=4, default=32),
            l2=hp.Float("l2", 0.0, 1e-3, default=1e-5),
            global_bias=self.global_bias,
        )
        model.compile(_optimizer(hp, 0.01), self.loss)
        return model


class MaskRCNNHyperModel(kt.HyperModel):
    """Mask R-CNN head sizes: pyramid and RPN channels, box-head width, mask-head
    channels and depth, RoIs sampled per image, and the learning rate.

    The model has its losses built in, so it compiles with an optimizer only;
    the tuner's objective is a loss it reports (``"val_loss"`` by default,
    or e.g. ``"val_mask_loss"``).
    """

    def __init__(self, num_classes, image_shape=(128, 128, 3), seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.image_shape = tuple(image_shape)
        self.seed = seed

    def build(self, hp):
        model = build_mask_rcnn(
            self.num_classes,
            self.image_shape,
            fpn_filters=hp.Int("fpn_filters", 16, 128, step=16, default=64),
            rpn_filters=hp.Int("rpn_filters", 16, 128, step=16, default=64),
            fc_units=hp.Int("fc_units", 64, 512, step=64, default=256),
            mask_filters=hp.Int("mask_filters", 16, 128, step=16, default=64),
            mask_convs=hp.Int("mask_convs", 1, 4, default=2),
            num_rois=hp.Int("num_rois", 32, 256, step=32, default=64),
            seed=self.seed,
        )
        lr = hp.Float("learning_rate", 1e-4, 1e-2, sampling="log", default=1e-3)
        model.compile(keras.optimizers.Adam(lr, clipnorm=10.0))
        return model
