"""Sequences as users have them (issue #14 item 3): ragged lists, padded arrays, other
lengths at predict; and N-d samples (images, sequences) through KerasClassifier/Regressor."""

import keras
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.dummy import DummyClassifier
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV

from tfzoo import KerasClassifier, KerasRegressor, LSTMClassifier, LSTMRegressor


def _ragged(n, low, high, seed):
    """Sequences of 2 features, lengths low..high; class: sign of the last 3 real steps' sum."""
    rng = np.random.default_rng(seed)
    X = [rng.normal(size=(int(t), 2)) for t in rng.integers(low, high + 1, n)]
    y = np.array(["up" if x[-3:, 0].sum() > 0 else "down" for x in X])
    return X, y


def _padded(X, value, steps=None):
    steps = steps or max(len(x) for x in X)
    out = np.full((len(X), steps, X[0].shape[1]), value, dtype=np.float64)
    for i, x in enumerate(X):
        out[i, : len(x)] = x
    return out


@pytest.fixture(scope="module")
def classifier():
    X, y = _ragged(240, 5, 30, seed=0)
    return LSTMClassifier(units=12, epochs=12, learning_rate=0.01, random_state=0).fit(X, y)


def test_ragged_list_classifier_learns_and_reads_no_padding(classifier):
    X_te, y_te = _ragged(150, 5, 30, seed=1)
    majority = DummyClassifier().fit(*_ragged(240, 5, 30, seed=0)).score(X_te, y_te)
    accuracy = classifier.score(X_te, y_te)
    assert accuracy >= majority + 0.25, (accuracy, majority)
    assert classifier.n_features_in_ == 2 and classifier.sample_shape_ == (None, 2)

    one = X_te[:1]
    alone = classifier.predict_proba(one)
    # in a list with longer ones, and pre-padded with the mask value (NaN by default)
    with_longer = classifier.predict_proba(one + [np.ones((45, 2)), np.ones((38, 2))])[:1]
    pre_padded = classifier.predict_proba(_padded(one, np.nan, steps=50))
    np.testing.assert_allclose(with_longer, alone, atol=1e-5)
    np.testing.assert_allclose(pre_padded, alone, atol=1e-5)
    # zeros are data unless mask_value says they are padding
    zero_padded = _padded(one, 0.0, steps=50)
    assert np.abs(classifier.predict_proba(zero_padded) - alone).max() > 1e-3
    classifier.set_params(mask_value=0.0)  # how the input marks padding, read at predict
    try:
        np.testing.assert_allclose(classifier.predict_proba(zero_padded), alone, atol=1e-5)
    finally:
        classifier.set_params(mask_value=np.nan)


def test_classifier_predicts_lengths_not_seen_in_fit(classifier):
    X_long, y_long = _ragged(100, 35, 60, seed=2)
    X_short, y_short = _ragged(100, 3, 4, seed=3)
    for X, y in ((X_long, y_long), (X_short, y_short)):
        proba = classifier.predict_proba(X)
        assert proba.shape == (len(X), 2) and np.all(np.isfinite(proba))
        assert classifier.score(X, y) >= 0.7
    # a 3-D array of another length works the same as the list
    same_length = [x[:35] for x in X_long]
    np.testing.assert_allclose(
        classifier.predict_proba(np.stack(same_length)),
        classifier.predict_proba(same_length),
        atol=1e-5,
    )


def test_padded_array_with_mask_value_fits_like_a_list():
    rng = np.random.default_rng(4)
    X = [rng.normal(size=(int(t), 1)) for t in rng.integers(5, 31, 200)]
    # raw scale, the length-normalised sum: about 100 +- 10
    y = np.array([100 + 30 * x.mean() for x in X])
    padded = _padded(X, -1.0)
    reg = LSTMRegressor(units=8, epochs=15, learning_rate=0.01, mask_value=-1.0, random_state=0)
    reg.fit(padded, y)
    X_te = [rng.normal(size=(int(t), 1)) for t in rng.integers(5, 45, 100)]
    y_te = np.array([100 + 30 * x.mean() for x in X_te])
    pred = reg.predict(X_te)
    assert r2_score(y_te, pred) >= 0.5, r2_score(y_te, pred)  # the mean scores 0
    # padding with -1 (the mask value) or passing the list: the same predictions
    np.testing.assert_allclose(reg.predict(_padded(X_te, -1.0)), pred, atol=1e-5)
    np.testing.assert_allclose(reg.predict([x[:, 0] for x in X_te]), pred, atol=1e-5)
    # the scaling saw real steps only: its mean is the data's, not pulled by -1 padding
    np.testing.assert_allclose(reg.input_mean_, np.concatenate(X).mean(axis=0))


def test_sequence_input_errors_say_what_was_received():
    clf = LSTMClassifier(units=4, epochs=1, random_state=0)
    y = np.array([0, 1, 0, 1])
    leading = np.ones((4, 6, 2))
    leading[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN at every value of step 0 of sample 1"):
        clf.fit(leading, y)
    partial = np.ones((4, 6, 2))
    partial[2, 3, 0] = np.nan
    with pytest.raises(ValueError, match=r"Input X contains NaN \(step 3 of sample 2"):
        clf.fit(partial, y)
    with pytest.raises(ValueError, match=r"sample 0 of X has no real steps"):
        clf.fit(np.full((4, 3, 2), np.nan), y)
    mixed = [np.ones((3, 2)), np.ones((4, 3)), np.ones((2, 2)), np.ones((5, 2))]
    with pytest.raises(
        ValueError, match=r"shape \(3, 2\) for sequence 0 and \(4, 3\) for sequence 1"
    ):
        clf.fit(mixed, y)
    with pytest.raises(ValueError, match=r"sequence 2 of X has no steps"):
        clf.fit([np.ones((3, 2)), np.ones((4, 2)), np.ones((0, 2)), np.ones((5, 2))], y)
    clf.fit([np.ones((3, 2)), np.zeros((4, 2)), np.ones((2, 2)), np.zeros((5, 2))], y)
    with pytest.raises(
        ValueError, match="X has 3 features per step, but LSTMClassifier is expecting 2"
    ):
        clf.predict([np.ones((3, 3))])
    # fitted on a 2-D table: scikit-learn's rule for tables, any length as a list
    table = LSTMClassifier(units=4, epochs=1, random_state=0).fit(np.ones((4, 6)), y)
    assert table.n_features_in_ == 6 and table.sample_shape_ == (None, 1)
    with pytest.raises(ValueError, match="X has 4 features, but LSTMClassifier is expecting 6"):
        table.predict(np.ones((2, 4)))
    assert table.predict([np.ones(4), np.ones(9)]).shape == (2,)


# ------------------------------------------------------------- N-d builders
def conv_builder(input_shape, n_classes, filters=4):
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(filters, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(n_classes, activation="softmax")(x))


def recurrent_builder(input_shape, n_outputs, units=4, activation=None):
    inputs = keras.Input(input_shape)
    x = keras.layers.LSTM(units)(inputs)
    return keras.Model(inputs, keras.layers.Dense(n_outputs, activation=activation)(x))


def _images(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.random((n, 8, 8, 1)).astype("float32")
    X[: n // 2, 2:6, 2:6] += 1.0  # a bright square for class 1
    y = np.array([1] * (n // 2) + [0] * (n - n // 2))
    return X, y


def test_keras_classifier_takes_images_in_their_shape():
    X, y = _images(80, seed=0)
    clf = KerasClassifier(model=conv_builder, epochs=15, learning_rate=0.05, random_state=0)
    clf.fit(X, y)
    assert clf.sample_shape_ == (8, 8, 1) and clf.n_features_in_ == 64
    assert clf.model_.input_shape == (None, 8, 8, 1)
    X_te, y_te = _images(40, seed=1)
    assert clf.predict(X_te).shape == (40,) and clf.predict_proba(X_te).shape == (40, 2)
    assert clf.score(X_te, y_te) >= 0.85
    np.testing.assert_array_equal(clf.predict(X_te.reshape(40, -1)), clf.predict(X_te))
    with pytest.raises(ValueError, match=r"samples of shape \(7, 7, 1\).*fitted on .*\(8, 8, 1\)"):
        clf.predict(X_te[:, :7, :7])
    search = GridSearchCV(clone(clf).set_params(epochs=2), {"model__filters": [2, 3]}, cv=2)
    search.fit(X, y)
    assert search.best_estimator_.model_.layers[1].filters in (2, 3)
    wrong = KerasClassifier(model=conv_builder, model_kwargs={"input_shape": (9, 9, 1)}, epochs=1)
    with pytest.raises(
        ValueError, match=r"shape \(8, 8, 1\), but the built model expects .*9, 9, 1"
    ):
        wrong.fit(X, y)


def test_keras_wrappers_take_sequences_and_tables_as_before():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, 7, 2)).astype("float32")
    y = X[:, -1, 0] - X[:, 0, 1]
    reg = KerasRegressor(model=recurrent_builder, epochs=40, learning_rate=0.02, random_state=0)
    reg.fit(X, y)
    assert reg.model_.input_shape == (None, 7, 2) and reg.predict(X[:5]).shape == (5,)
    assert reg.score(X, y) >= 0.5
    # a table of as many values per row is reshaped to the model's input; other widths refused
    fixed = KerasRegressor(model=lambda n_outputs: recurrent_builder((7, 2), n_outputs), epochs=1)
    assert fixed.fit(X.reshape(60, -1), y).sample_shape_ == (7, 2)
    with pytest.raises(ValueError, match=r"X has 13 features, but the built model expects .*7, 2"):
        fixed.fit(X.reshape(60, -1)[:, :13], y)
    seq_clf = KerasClassifier(
        model=lambda n_classes: recurrent_builder((None, 2), n_classes, activation="softmax"),
        epochs=2,
        random_state=0,
    )
    seq_clf.fit(X, (y > 0).astype(int))
    assert seq_clf.sample_shape_ == (7, 2) and seq_clf.predict(X[:3]).shape == (3,)
    # a 2-D table into a table builder: exactly as before
    table = KerasClassifier(model=_table_builder, epochs=2, random_state=0)
    table.fit(X[:, :, 0], (y > 0).astype(int))
    assert table.sample_shape_ == (7,) and table.n_features_in_ == 7
    with pytest.raises(ValueError, match="X has 6 features, but KerasClassifier is expecting 7"):
        table.predict(X[:, :6, 0])


def _table_builder(n_features, n_classes):
    inputs = keras.Input((n_features,))
    return keras.Model(inputs, keras.layers.Dense(n_classes, activation="softmax")(inputs))
