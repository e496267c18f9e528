"""Sequences of any length for the LSTM estimators: ragged lists, padded arrays, masking.

User input is read in two stages. :func:`as_sequences` turns what the user
gave (a list of ``(steps,)`` / ``(steps, features)`` arrays of any lengths, a
2-D table of univariate sequences or a 3-D array, either possibly padded
with the estimator's ``mask_value``) into :class:`Sequences`: float64 values
``(n, steps, features)`` post-padded with NaN, and each sequence's length.
Scaling works on that. :meth:`SequenceInputMixin._model_input` then writes
the padded steps as :data:`PAD`, the value the model's ``Masking`` layer
skips, so the LSTMs never read padding as data.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y

#: What padded steps hold when they reach the model (its ``Masking`` layer's
#: ``mask_value``). A power of two, exact in float32 and float64; a real step
#: whose every value is exactly this is refused rather than masked.
PAD = -(2.0**60)


class Sequences:
    """Validated sequences: ``values`` ``(n, steps, features)`` float64, NaN on
    padded steps (always after the real ones), ``lengths`` ``(n,)``; ``table``
    when they came as a 2-D table, ``frame`` the DataFrame they came as."""

    __slots__ = ("values", "lengths", "table", "frame")

    def __init__(self, values, lengths, table=False, frame=None):
        self.values = values
        self.lengths = lengths
        self.table = table
        self.frame = frame

    def with_values(self, values):
        return Sequences(values, self.lengths, self.table, self.frame)

    @property
    def real(self):
        """``(n, steps)`` True on real steps, False on padding."""
        return np.arange(self.values.shape[1])[None, :] < self.lengths[:, None]

    def last(self):
        """``(n, features)``: each sequence's last real step."""
        return self.values[np.arange(len(self.values)), self.lengths - 1]


def _is_nan(value):
    return isinstance(value, float) and math.isnan(value)


def as_sequences(X, mask_value):
    """``X`` as :class:`Sequences`, or ``X`` unchanged where it is not numeric
    sequences at all (scikit-learn's validation then says what is wrong)."""
    if isinstance(X, Sequences):
        return X
    if (
        isinstance(X, (list, tuple))
        and len(X) > 0
        and all(hasattr(item, "__len__") and not isinstance(item, (str, bytes)) for item in X)
        and not _stacks(X)
    ):
        return _from_list(X)
    # arrays, and lists that stack into one (scikit-learn's array-likes: a list
    # of equal rows is a table)
    return _from_array(X, mask_value)


def _stacks(items):
    try:
        return np.asarray(items).dtype.kind != "O"
    except (TypeError, ValueError):
        return False


def _numeric(a):
    if a.dtype.kind == "O":
        try:
            return a.astype(np.float64)
        except (TypeError, ValueError):
            return None
    return a if a.dtype.kind in "fiub" else None


def _from_list(items):
    arrays = []
    for i, item in enumerate(items):
        try:
            a = np.asarray(item)
        except (TypeError, ValueError) as err:
            raise ValueError(f"sequence {i} of X is not an array: {err}") from None
        numeric = _numeric(a)
        if numeric is None:
            raise ValueError(f"sequence {i} of X has dtype {a.dtype}; sequences must hold numbers")
        a = numeric.astype(np.float64)
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2:
            raise ValueError(
                "each sequence in X must have shape (steps,) or (steps, n_features), "
                f"got shape {a.shape} for sequence {i}"
            )
        if a.shape[0] == 0:
            raise ValueError(f"sequence {i} of X has no steps (shape {a.shape})")
        if np.isnan(a).any():
            raise ValueError(
                f"Input X contains NaN (sequence {i}). A sequence given in a list has no "
                "padding, so NaN is a missing value: impute or drop it first."
            )
        arrays.append(a)
    widths = [a.shape[1] for a in arrays]
    if len(set(widths)) > 1:
        j = next(i for i, w in enumerate(widths) if w != widths[0])
        raise ValueError(
            "the sequences in X must have the same number of features per step, got "
            f"shape {arrays[0].shape} for sequence 0 and {arrays[j].shape} for sequence {j}"
        )
    lengths = np.array([len(a) for a in arrays])
    values = np.full((len(arrays), lengths.max(), widths[0]), np.nan)
    for i, a in enumerate(arrays):
        values[i, : len(a)] = a
    return Sequences(values, lengths)


def _from_array(X, mask_value):
    if scipy.sparse.issparse(X):
        return X
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError):
        return X
    if arr.ndim not in (2, 3) or arr.size == 0:
        return X
    numeric = _numeric(arr)
    if numeric is None:
        return X
    values = numeric.astype(np.float64)  # a copy: the user's array is not written
    v3 = values[..., None] if values.ndim == 2 else values
    if _is_nan(mask_value):
        pad = np.isnan(v3).all(axis=-1)
    else:
        pad = (v3 == mask_value).all(axis=-1)
    steps = v3.shape[1]
    has_real = ~pad
    lengths = np.where(has_real.any(axis=1), steps - np.argmax(has_real[:, ::-1], axis=1), 0)
    if (lengths == 0).any():
        i = int(np.argmax(lengths == 0))
        raise ValueError(
            f"sample {i} of X has no real steps: every step is padding (all its values "
            f"equal to mask_value={mask_value!r})"
        )
    real = np.arange(steps)[None, :] < lengths[:, None]
    early = pad & real
    if early.any():
        i, t = (int(k[0]) for k in np.nonzero(early))
        what = "NaN" if _is_nan(mask_value) else f"mask_value={mask_value!r}"
        raise ValueError(
            f"X contains {what} at every value of step {t} of sample {i}, before the "
            f"sample's last real step: with mask_value={mask_value!r} such steps are "
            "padding, which must come after a sequence's real steps (post-padding, as "
            "keras.utils.pad_sequences(..., padding='post') makes it); a missing value "
            "in the middle needs imputing"
        )
    v3[~real] = np.nan
    if np.isnan(v3[real]).any():
        i, t = (int(k[0]) for k in np.nonzero(np.isnan(v3).any(axis=-1) & real))
        raise ValueError(
            f"Input X contains NaN (step {t} of sample {i}, a real step: only steps whose "
            f"every value equals mask_value={mask_value!r} are padding)."
        )
    frame = X if values.ndim == 2 and hasattr(X, "columns") else None
    return Sequences(v3, lengths, table=values.ndim == 2, frame=frame)


class SequenceInputMixin:
    """Estimators on a time-free LSTM model with a ``Masking`` layer.

    ``sample_shape_`` is ``(None, features_per_step)``: any length. A 2-D
    table keeps scikit-learn's rules when the estimator was fitted on one
    (``n_features_in_`` is its width, and tables at predict must match it);
    otherwise ``n_features_in_`` counts features per step.
    """

    def _sequences(self, X):
        return as_sequences(X, self.mask_value)

    def _as_table(self, seq, reset):
        return seq.table and (reset or getattr(self, "_fitted_on_table", False))

    def _model_input(self, seq, table):
        real = seq.real
        if ((seq.values == PAD).all(axis=-1) & real).any():
            raise ValueError(
                f"X has a real step whose every value is {PAD!r}, the value the model "
                "reserves for padding; rescale X"
            )
        values = np.where(real[..., None], seq.values, PAD)
        if not table:
            return values.reshape(len(values), -1)
        values = values[..., 0]
        if seq.frame is not None:
            import pandas as pd

            values = pd.DataFrame(values, index=seq.frame.index, columns=seq.frame.columns)
        return values

    def _fit(self, X, y, sample_weight, epochs, incremental, classes=None):
        keep = incremental or (self.warm_start and hasattr(self, "model_"))
        seq = self._sequences(X)
        if isinstance(seq, Sequences):
            table = self._as_table(seq, reset=not keep)
            self._fit_features = None if table else seq.values.shape[-1]
            X = self._model_input(seq, table)
        else:  # not sequences: validation reports what it is
            self._fit_features = None
        return super()._fit(X, y, sample_weight, epochs, incremental, classes)

    def _validate_fit_data(self, X, y, reset):
        features = self._fit_features
        if features is None:
            X, y = super()._validate_fit_data(X, y, reset)
            if reset:
                self._fitted_on_table = True
            return X, y
        X, y = check_X_y(X, y, estimator=self, **self._validate_kwargs())
        if reset:
            self.n_features_in_ = features
            self.__dict__.pop("feature_names_in_", None)
            self._fitted_on_table = False
        else:
            self._check_step_features(features)
        return X, y

    def _check_step_features(self, features):
        expected = self.sample_shape_[1]
        if features != expected:
            raise ValueError(
                f"X has {features} features per step, but {type(self).__name__} is "
                f"expecting {expected} features per step as input."
            )

    def _set_sample_shape(self, n_features):
        self.sample_shape_ = (None, self._fit_features or 1)
        return self.sample_shape_

    def _input_shape(self):
        return self.sample_shape_

    def _reshape_input(self, X):
        X = np.asarray(X)
        return X.reshape(X.shape[0], -1, self.sample_shape_[1])

    def _validated_for_predict(self, X):
        check_is_fitted(self, "model_")
        seq = self._sequences(X)
        if not isinstance(seq, Sequences):
            return super()._validated_for_predict(X)
        table = self._as_table(seq, reset=False)
        X = self._model_input(seq, table)
        if table:
            return super()._validated_for_predict(X)
        self._check_step_features(seq.values.shape[-1])
        return check_array(X, dtype=[np.float64, np.float32], estimator=self)
