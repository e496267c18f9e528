"""The seed's small CNN as a scikit-learn classifier."""

from __future__ import annotations

import math
from numbers import Integral, Real

import keras
import numpy as np
from scipy import sparse
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _num_samples as _sklearn_num_samples

from tfzoo.estimators._base import NDInputMixin
from tfzoo.estimators._supervised import KerasClassifierBase
from tfzoo.models.small_cnn import build_small_cnn

#: ``epochs="auto"`` trains for about this many optimizer steps (at least
#: ``AUTO_MIN_EPOCHS`` epochs): small data sets get enough updates, large ones
#: their epochs. Measured on a 2-core CPU (``benchmarks/small_data.py``).
AUTO_STEPS = 2000
AUTO_MIN_EPOCHS = 10


class CNNClassifier(NDInputMixin, KerasClassifierBase):
    """Image classifier on :func:`tfzoo.models.build_small_cnn`.

    ``X`` may be images ``(n, h, w)`` or ``(n, h, w, c)``, or flat rows
    ``(n, h*w*c)`` (also ``scipy.sparse``, densified a batch at a time).
    Flat rows are reshaped to ``image_shape`` when given; without it a row
    of ``h*h`` values is taken as a square ``h x h x 1``
    image (784 → 28x28, 64 → 8x8) and any other width is refused (3,072
    values could be 32x32x3 or 1x3072: say which with ``image_shape``;
    ``(1, -1, 1)`` takes every row as a one-row image, whatever its width).
    The shape used is ``image_shape_``; at predict time
    images must have that shape (or be flat with as many values).
    ``uint8`` images (pixels 0-255, as images are stored) are divided by
    255, at ``fit`` and at ``predict``; other dtypes are used as given: scale
    them (e.g. to [0, 1]) beforehand, as the tfzoo loaders do. One image
    without its batch axis (``(28, 28)`` to a model of 28x28 images) is
    refused with a message rather than read as 28 rows.

    Args:
        image_shape: ``(h, w)`` or ``(h, w, c)`` of flat input rows; one side
            may be ``-1`` (as in ``reshape``), taken from the row's length.
        filters, kernel_sizes, strides, dense_units, batch_norm: the
            builder's architecture (the seed's table by default).
        dropout: dropout rate after the dense layer during training. 0.4 by
            default: with the step budget below it is what lets small data
            sets (scikit-learn's digits, a few thousand MNIST images) reach
            their best accuracy instead of overfitting (0.0 = the seed's
            network exactly).
        learning_rate: Adam's learning rate at the start of each ``fit``.
        lr_schedule: ``"cosine"`` (default): each ``fit`` lowers the learning
            rate along a half cosine, epoch by epoch, from ``learning_rate``
            towards 0 over its epochs (a ``warm_start`` refit starts again
            from ``learning_rate``; ``partial_fit``, one epoch, trains at
            ``learning_rate``); ``"constant"`` keeps it. An ``optimizer``
            instance with its own schedule (``learning_rate=None``) is left
            alone. The annealed end gives the most accurate weights of the run
            instead of a noisy last step: on MNIST 8,000 / 2,000 test
            accuracy 0.986-0.987 against 0.981-0.986 at a constant rate.
        epochs: passes over the data, or ``"auto"`` (default): enough epochs
            for about 2,000 training steps and at least 10 (``ceil(2000 /
            steps per epoch)``, steps counted on the training part). 60,000
            MNIST images at batch 128 get 10 epochs, 8,000 get 32, the 1,347
            training images of a 75 % split of the digits get 182. ``n_iter_``
            says how many ran. ``partial_fit`` is always one epoch.
        steps_per_execution: training steps per call of the compiled train
            function (fewer Python round trips; ``benchmarks/throughput.py``);
            1 under ``MultiWorkerMirroredStrategy``, where Keras's multi-step
            loop fails (:func:`tfzoo.distribute.keras_fixes.steps_per_execution`).
        epochs, batch_size, optimizer, learning_rate, loss, validation_fraction,
        early_stopping, n_iter_no_change, callbacks, class_weight, warm_start,
        random_state, verbose, strategy, tensorboard_dir: as in
        :class:`tfzoo.KerasClassifier`.

    Attributes:
        image_shape_: ``(h, w, c)`` the model was built for (also ``sample_shape_``).
        n_features_in_: values per image (``h*w*c``).
    """

    _parameter_constraints: dict = {
        **KerasClassifierBase._parameter_constraints,
        "image_shape": ["array-like", None],
        "filters": ["array-like"],
        "kernel_sizes": ["array-like"],
        "strides": ["array-like"],
        "dense_units": [Interval(Integral, 1, None, closed="left")],
        "batch_norm": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "steps_per_execution": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "lr_schedule": [StrOptions({"constant", "cosine"})],
    }

    #: flat rows may be ``scipy.sparse`` (densified and reshaped a batch at a time)
    _sparse_input = True

    def __init__(
        self,
        *,
        image_shape=None,
        filters=(16, 8, 12),
        kernel_sizes=(5, 5, 4),
        strides=(1, 2, 2),
        dense_units=200,
        batch_norm=False,
        dropout=0.4,
        epochs="auto",
        batch_size=128,
        steps_per_execution=8,
        optimizer="adam",
        learning_rate=0.004,
        lr_schedule="cosine",
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
        self.image_shape = image_shape
        self.filters = filters
        self.kernel_sizes = kernel_sizes
        self.strides = strides
        self.dense_units = dense_units
        self.batch_norm = batch_norm
        self.dropout = dropout
        self.steps_per_execution = steps_per_execution
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
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

    _add_channel = True

    def _fit(self, X, y, sample_weight, epochs, incremental, classes=None):
        if epochs == "auto":
            epochs = self._auto_epochs(X)
        return super()._fit(_pixels(X), y, sample_weight, epochs, incremental, classes)

    def _make_callbacks(self, has_validation):
        callbacks = super()._make_callbacks(has_validation)
        if self.lr_schedule == "cosine":
            callbacks.insert(1, CosineAnnealing())  # after the divergence guard
        return callbacks

    def _auto_epochs(self, X):
        """Epochs of ``epochs="auto"``: about ``AUTO_STEPS`` steps, at least ``AUTO_MIN_EPOCHS``."""
        n = _num_samples(X)
        if self.early_stopping and self.validation_fraction > 0:
            n = max(1, n - math.ceil(n * self.validation_fraction))
        batch = self.batch_size if self.batch_size is not None else min(200, n)
        steps_per_epoch = max(1, math.ceil(n / batch))
        return max(AUTO_MIN_EPOCHS, math.ceil(AUTO_STEPS / steps_per_epoch))

    def _validated_for_predict(self, X):
        if hasattr(X, "shape") and hasattr(self, "sample_shape_"):
            shape = tuple(X.shape)
            one = self.sample_shape_
            # (h, w) is one image only where it cannot be flat rows of the model's width
            flat_rows = len(shape) == 2 and shape[1] == self.n_features_in_
            if shape == one or (one[-1] == 1 and shape == one[:-1] and not flat_rows):
                raise ValueError(
                    f"Expected a batch of images of shape (n_samples, {', '.join(map(str, one))}), "
                    f"got one image of shape {shape}: pass X[np.newaxis] "
                    f"(X.reshape(1, {', '.join(map(str, shape))})) if it contains a single image."
                )
        return super()._validated_for_predict(_pixels(X))

    def _resolve_sample_shape(self, seen, n_features):
        if seen is not None:
            return seen
        if self.image_shape is not None:
            shape = tuple(int(d) for d in self.image_shape)
            if len(shape) == 2:
                shape += (1,)
            if shape.count(-1) == 1 and len(shape) == 3:
                # one -1 as in reshape: that side takes what the others leave
                known = -math.prod(shape)
                if known > 0 and n_features % known == 0:
                    shape = tuple(n_features // known if d == -1 else d for d in shape)
            if len(shape) != 3 or min(shape) < 1 or math.prod(shape) != n_features:
                raise ValueError(
                    f"image_shape={self.image_shape!r} does not hold {n_features} values per row"
                )
            return shape
        side = math.isqrt(n_features)
        if side > 1 and side * side == n_features:
            return (side, side, 1)
        raise ValueError(
            f"{type(self).__name__} got flat rows of {n_features} values, which is not a "
            "square number of pixels, so the image shape cannot be inferred: pass "
            "image_shape=(height, width, channels) (3072 values are (32, 32, 3), for "
            "example), or give X as images of shape (n_samples, height, width[, channels])."
        )

    @property
    def image_shape_(self):
        """``(h, w, c)`` the model was built for."""
        return self.sample_shape_

    def _build_keras_model(self, n_features, n_outputs, meta):
        return build_small_cnn(
            input_shape=self._set_sample_shape(n_features),
            num_classes=meta["n_classes"],
            filters=self.filters,
            kernel_sizes=self.kernel_sizes,
            strides=self.strides,
            dense_units=self.dense_units,
            batch_norm=self.batch_norm,
            dropout=self.dropout,
        )


class CosineAnnealing(keras.callbacks.Callback):
    """Sets the optimizer's learning rate to ``lr0 * (1 + cos(pi * epoch / epochs)) / 2``.

    ``lr0`` is the rate when the fit starts (restored when it ends, so the next
    fit starts from it again); an optimizer whose rate is a schedule is left alone.
    """

    def on_train_begin(self, logs=None):
        rate = self.model.optimizer.learning_rate
        self._active = isinstance(rate, keras.Variable)
        if self._active:
            self._start = float(keras.ops.convert_to_numpy(rate))
            self._epochs = max(1, int(self.params.get("epochs") or 1))

    def on_epoch_begin(self, epoch, logs=None):
        if self._active:
            factor = 0.5 * (1.0 + math.cos(math.pi * epoch / self._epochs))
            self.model.optimizer.learning_rate.assign(self._start * factor)

    def on_train_end(self, logs=None):
        if self._active:
            self.model.optimizer.learning_rate.assign(self._start)


def _num_samples(X):
    try:
        return max(1, _sklearn_num_samples(X))
    except TypeError:  # left to validate_data to refuse with its message
        return 1


def _pixels(X):
    """uint8 images (0-255) as float32 in [0, 1]; anything else as given."""
    if getattr(X, "dtype", None) == np.uint8 and sparse.issparse(X):
        return X.astype(np.float32) / 255.0
    if getattr(X, "dtype", None) == np.uint8:
        return np.asarray(X, dtype=np.float32) / 255.0
    return X
