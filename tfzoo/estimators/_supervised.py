"""Classifier and regressor behaviour on top of :class:`BaseKerasEstimator`."""

from __future__ import annotations

import keras
import numpy as np
from scipy.special import expit, softmax
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d

from tfzoo.estimators._base import BaseKerasEstimator

#: Cross-entropy names that ``from_logits`` turns into Keras loss objects.
_CROSS_ENTROPIES = {
    "binary_crossentropy": keras.losses.BinaryCrossentropy,
    "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
}


def _is_categorical_loss(loss):
    """Whether ``loss`` wants one-hot targets (Keras's categorical cross-entropy)."""
    loss = getattr(loss, "fn", loss)  # GlobalBatchLoss wraps the user's loss
    return loss == "categorical_crossentropy" or isinstance(
        loss, keras.losses.CategoricalCrossentropy
    )


class KerasClassifierBase(ClassifierMixin, BaseKerasEstimator):
    """Label encoding, probabilities and decision values for classifiers.

    The model sees class indices ``0 … n_classes-1``: one sigmoid output for
    two classes (binary cross-entropy), ``n_classes`` softmax outputs
    otherwise (sparse categorical cross-entropy). ``predict`` returns the
    original labels (strings stay strings).

    Subclasses that set ``_supports_multilabel`` also take a multilabel
    indicator matrix ``y`` of shape ``(n_samples, n_labels)`` (as
    scikit-learn's ``MLPClassifier``): one sigmoid output per label, binary
    cross-entropy, ``classes_ = arange(n_labels)``, ``predict`` returns the
    0/1 indicator matrix and ``predict_proba`` each label's probability.

    ``from_logits_`` says whether the model's outputs were read as logits
    (trained with ``from_logits=True``, squashed by sigmoid/softmax in
    ``predict_proba``); subclasses decide it in ``_outputs_are_logits``.
    """

    _parameter_constraints: dict = {
        **BaseKerasEstimator._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    #: Whether a 2-D multilabel indicator ``y`` is accepted.
    _supports_multilabel = False

    def _validate_kwargs(self):
        return {**super()._validate_kwargs(), "multi_output": self._supports_multilabel}

    @property
    def _is_multilabel(self):
        return getattr(self, "_multilabel", False)

    def _encode_targets(self, y, reset, classes=None):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)  # scikit-learn's DataConversionWarning
        if y.ndim == 2:
            return self._encode_multilabel(y, reset)
        if not reset and self._is_multilabel:
            raise ValueError(
                f"y is 1-D, but {type(self).__name__} was fitted on a multilabel "
                f"indicator matrix of {len(self.classes_)} labels."
            )
        if reset:
            check_classification_targets(y)
            labels = np.unique(y) if classes is None else np.unique(np.asarray(classes))
            if len(labels) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes in "
                    "the data, but the data contains only one class: "
                    f"{labels[0]!r}"
                )
            self.classes_ = labels
            self._multilabel = False
        else:
            check_classification_targets(y)
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(
                f"y contains labels that are not in classes_ {self.classes_.tolist()}: "
                f"{unknown.tolist()}"
            )
        y_idx = np.searchsorted(self.classes_, y)
        n_classes = len(self.classes_)
        meta = {
            "n_classes": n_classes,
            "n_outputs": 1 if n_classes == 2 else n_classes,
            "n_features": self.n_features_in_,
        }
        return y_idx, meta

    def _encode_multilabel(self, y, reset):
        kind = type_of_target(y)
        if kind != "multilabel-indicator":
            check_classification_targets(y)
            raise ValueError(
                f"{type(self).__name__} supports 1-D class labels and multilabel "
                "indicator matrices (y of shape (n_samples, n_labels) holding 0 and 1), "
                f"got y of shape {y.shape} and type {kind!r}: multiclass-multioutput "
                "targets are not supported (fit one classifier per column, e.g. with "
                "sklearn.multioutput.MultiOutputClassifier)."
            )
        n_labels = y.shape[1]
        if reset:
            self.classes_ = np.arange(n_labels)
            self._multilabel = True
            self._label_dtype = y.dtype  # predict returns the indicator matrix in it
        elif not self._is_multilabel or n_labels != len(self.classes_):
            fitted = (
                f"a multilabel indicator matrix of {len(self.classes_)} labels"
                if self._is_multilabel
                else "1-D class labels"
            )
            raise ValueError(
                f"y is a multilabel indicator matrix of {n_labels} labels, but "
                f"{type(self).__name__} was fitted on {fitted}."
            )
        meta = {"n_classes": n_labels, "n_outputs": n_labels, "n_features": self.n_features_in_}
        return y.astype(np.float32), meta

    def _model_targets(self, y_idx, model):
        if self._is_multilabel:
            return y_idx.astype(np.float32)
        if model.output_shape[-1] == 1:
            return y_idx.astype(np.float32)[:, None]
        if _is_categorical_loss(getattr(model, "loss", None)):
            return np.eye(model.output_shape[-1], dtype=np.float32)[y_idx]
        return y_idx.astype(np.int32)

    def _check_model_outputs(self, model):
        units = model.output_shape[-1]
        n_classes = len(self.classes_)
        if self._is_multilabel:
            if units != n_classes:
                raise ValueError(
                    f"the model has {units} output units, but y has {n_classes} labels "
                    f"(a multilabel indicator matrix): it needs {n_classes} sigmoid units"
                )
        elif units != 1 and units != n_classes:
            raise ValueError(
                f"the model has {units} output units, but {n_classes} classes need "
                f"{'1 (sigmoid) or 2 (softmax)' if n_classes == 2 else n_classes}"
            )
        self.from_logits_ = bool(self._outputs_are_logits(model))

    def _outputs_are_logits(self, model):
        """Whether ``model`` outputs logits rather than probabilities (here: never)."""
        return False

    def _default_loss(self, model):
        if self._is_multilabel or model.output_shape[-1] == 1:
            return "binary_crossentropy"
        return "sparse_categorical_crossentropy"

    def _loss_for(self, model):
        """The loss, made to agree with ``from_logits_``.

        A cross-entropy given by name is built with ``from_logits=True`` for a
        model that outputs logits; a loss object with a ``from_logits``
        attribute is the user's word and sets ``from_logits_``.
        """
        loss = super()._loss_for(model)
        if isinstance(loss, str) and loss in _CROSS_ENTROPIES and self.from_logits_:
            return _CROSS_ENTROPIES[loss](from_logits=True)
        if isinstance(getattr(loss, "from_logits", None), bool):
            self.from_logits_ = loss.from_logits
        return loss

    def _stratify(self, y_idx):
        if self._is_multilabel:
            return None
        counts = np.bincount(y_idx.ravel().astype(int))
        return y_idx.ravel() if counts[counts > 0].min() >= 2 else None

    def _effective_sample_weight(self, y_idx, sample_weight):
        class_weight = getattr(self, "class_weight", None)
        if class_weight is None:
            return sample_weight
        if self._is_multilabel:
            raise ValueError(
                f"class_weight is not supported for multilabel y, got class_weight={class_weight!r}"
            )
        if isinstance(class_weight, dict):
            unknown = set(class_weight) - set(self.classes_.tolist())
            if unknown:
                raise ValueError(
                    f"class_weight names labels that are not in classes_: {sorted(unknown)}"
                )
        weights = compute_sample_weight(class_weight, self.classes_[y_idx])
        return weights if sample_weight is None else weights * sample_weight

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch on ``(X, y)``; pass ``classes`` on the first call.

        The argument order is scikit-learn's ``SGDClassifier.partial_fit``
        (``classes`` third). ``classes`` passed again later must be the same
        labels as on the first call (as scikit-learn's estimators require).
        Each call runs the compiled train step on the batches of ``(X, y)``
        (no new ``model.fit``, nothing retraced), so a stream of small calls
        costs about what the same batches cost inside ``fit``.
        """
        first = not hasattr(self, "model_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if not first and classes is not None:
            check_classification_targets(np.asarray(classes))
            if not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
                raise ValueError(
                    f"`classes={classes!r}` is not the same as on last call to "
                    f"partial_fit, was: {self.classes_!r}"
                )
        with self._one_pass():
            return self._fit(X, y, sample_weight, epochs=1, incremental=not first, classes=classes)

    # -- outputs
    def _proba_from_outputs(self, out):
        """Model outputs -> probabilities, float64: ``(n, n_classes)``, or ``(n, n_labels)``
        (each label's) for multilabel ``y``."""
        if getattr(self, "from_logits_", False):
            if self._is_multilabel:
                return expit(out)
            if out.shape[1] == 1:
                p = expit(out[:, 0])
                return np.column_stack([1.0 - p, p])
            return softmax(out, axis=1)
        if self._is_multilabel:
            return np.clip(out, 0.0, 1.0)
        if out.shape[1] == 1:
            p = np.clip(out[:, 0], 0.0, 1.0)
            return np.column_stack([1.0 - p, p])
        out = np.clip(out, 0.0, None)
        return out / out.sum(axis=1, keepdims=True)

    def predict_proba(self, X):
        """Class probabilities, shape ``(n_samples, n_classes)``, columns as ``classes_``
        (for multilabel ``y``: each label's probability, ``(n_samples, n_labels)``)."""
        X = self._validated_for_predict(X)
        return self._proba_from_outputs(self._raw_predict(X))

    def decision_function(self, X):
        """Confidence scores: the log-odds of ``classes_[1]`` for two classes,
        shape ``(n_samples,)``; log-probabilities ``(n_samples, n_classes)`` otherwise
        (each label's log-odds, ``(n_samples, n_labels)``, for multilabel ``y``)."""
        X = self._validated_for_predict(X)
        out = self._raw_predict(X)
        if getattr(self, "from_logits_", False) and (self._is_multilabel or out.shape[1] == 1):
            return out if self._is_multilabel else out[:, 0]
        proba = self._proba_from_outputs(out)
        eps = np.finfo(np.float64).tiny
        if self._is_multilabel:
            return np.log(proba + eps) - np.log(1.0 - proba + eps)
        if proba.shape[1] == 2:
            return np.log(proba[:, 1] + eps) - np.log(proba[:, 0] + eps)
        return np.log(proba + eps)

    def predict(self, X):
        """Predicted labels (of the type passed to ``fit``); for multilabel ``y``
        the 0/1 indicator matrix ``(n_samples, n_labels)``."""
        proba = self.predict_proba(X)
        if self._is_multilabel:
            return (proba > 0.5).astype(self._label_dtype)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = self._supports_multilabel
        return tags


class LogitClassifierBase(KerasClassifierBase):
    """For models whose prediction path returns logits (e.g. the perceptron):
    probabilities and decision values are computed from them in float64."""

    def _proba_from_logits(self, logits):
        if logits.shape[1] == 1:
            p = expit(logits[:, 0])
            return np.column_stack([1.0 - p, p])
        return softmax(logits, axis=1)

    def predict_proba(self, X):
        X = self._validated_for_predict(X)
        return self._proba_from_logits(self._raw_predict(X))

    def decision_function(self, X):
        X = self._validated_for_predict(X)
        logits = self._raw_predict(X)
        if logits.shape[1] == 1:
            return logits[:, 0]
        return logits


class KerasRegressorBase(RegressorMixin, BaseKerasEstimator):
    """Targets as float32 columns; ``predict`` returns float64 with ``y``'s ndim."""

    def _validate_kwargs(self):
        return {**super()._validate_kwargs(), "multi_output": True, "y_numeric": True}

    def _encode_targets(self, y, reset, classes=None):
        y = np.asarray(y, dtype=np.float64)
        y2 = y if y.ndim == 2 else y[:, None]
        if reset:
            self._y_ndim = y.ndim
            self.n_outputs_ = y2.shape[1]
        elif y2.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y2.shape[1]} target(s), but {type(self).__name__} was fitted "
                f"with {self.n_outputs_}."
            )
        return y2, {"n_outputs": self.n_outputs_, "n_features": self.n_features_in_}

    def _model_targets(self, y2, model):
        return y2.astype(np.float32)

    def _check_model_outputs(self, model):
        units = model.output_shape[-1]
        if units != self.n_outputs_:
            raise ValueError(
                f"the model has {units} output units, but y has {self.n_outputs_} target(s)"
            )

    def _default_loss(self, model):
        return "mse"

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch on ``(X, y)`` (builds the model on the first call).

        Each call runs the compiled train step on the batches of ``(X, y)``
        (no new ``model.fit``, nothing retraced), so a stream of small calls
        costs about what the same batches cost inside ``fit``.
        """
        first = not hasattr(self, "model_")
        with self._one_pass():
            return self._fit(X, y, sample_weight, epochs=1, incremental=not first)

    def predict(self, X):
        """Predictions, float64: ``(n_samples,)`` for a 1-D ``y``, else
        ``(n_samples, n_outputs)``."""
        X = self._validated_for_predict(X)
        out = self._raw_predict(X)
        return out[:, 0] if self._y_ndim == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
