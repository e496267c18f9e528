"""One rule for counts and one optimizer factory, whichever part of tfzoo takes them."""

import keras
import numpy as np
import pytest

from tfzoo import TextGenerator, datasets, layers, models
from tfzoo._validation import check_int, make_optimizer

# Every public entry point that takes a count, with the name of that count.
COUNTS = [
    (lambda v: layers.Linear(units=v), "units"),
    (lambda v: layers.Perceptron(hidden_units=v), "hidden_units"),
    (lambda v: layers.LSTMEncoder(units=v), "units"),
    (lambda v: layers.ConvBlock(filters=v, kernel_size=3), "filters"),
    (lambda v: layers.MatrixFactorization(n_users=v, n_items=3), "n_users"),
    (lambda v: layers.RoIAlign(output_size=v), "output_size"),
    (lambda v: layers.RPNHead(num_anchors=v), "num_anchors"),
    (lambda v: layers.BoxHead(num_classes=v), "num_classes"),
    (lambda v: models.build_linear_regression(v), "n_features"),
    (lambda v: models.build_perceptron(v), "n_features"),
    (lambda v: models.build_lstm_forecaster(window=4, n_features=v), "n_features"),
    (lambda v: models.build_embedding_recommender(v, 3), "n_users"),
    (lambda v: datasets.make_windows(np.arange(10.0), v), "window"),
    (lambda v: datasets.make_ratings(n_users=v), "n_users"),
    (lambda v: datasets.make_shapes(v, image_size=16), "n"),
]


@pytest.mark.parametrize("bad", [0, -1, 1.5, 2.0, True, "2"])
@pytest.mark.parametrize("make, name", COUNTS, ids=[f"{i}-{n}" for i, (_, n) in enumerate(COUNTS)])
def test_every_count_follows_one_rule(make, name, bad):
    with pytest.raises(ValueError, match=rf"^{name} must be a positive integer, got {bad!r}$"):
        make(bad)


def test_check_int():
    assert check_int(np.int64(3), "n") == 3 and type(check_int(np.int64(3), "n")) is int
    with pytest.raises(ValueError, match=r"^size must be an integer >= 16, got 8$"):
        check_int(8, "size", minimum=16)
    with pytest.raises(ValueError, match="got np.True_"):
        check_int(np.bool_(True), "n")


def test_make_optimizer_keeps_an_instances_configuration():
    given = keras.optimizers.Adam(learning_rate=0.1, beta_1=0.5, beta_2=0.9, clipnorm=2.0)
    made = make_optimizer(given, 0.01, clipnorm=None)
    assert made is not given
    config = made.get_config()
    assert config.pop("learning_rate") == pytest.approx(0.01)
    assert config == {k: v for k, v in given.get_config().items() if k != "learning_rate"}
    assert isinstance(make_optimizer(keras.optimizers.SGD), keras.optimizers.SGD)
    assert make_optimizer("sgd", 0.5, clipnorm=1.0).get_config()["clipnorm"] == 1.0
    with pytest.raises(ValueError, match="optimizer must be a name .* got 3"):
        make_optimizer(3)


def test_text_generator_keeps_the_optimizers_configuration():
    text = "the cat sat on the mat. " * 20
    given = keras.optimizers.Adam(beta_1=0.5, beta_2=0.9, epsilon=1e-5, weight_decay=0.01)
    gen = TextGenerator(
        sequence_length=8,
        embedding_dim=4,
        units=8,
        epochs=1,
        batch_size=8,
        optimizer=given,
        learning_rate=0.01,
        lr_schedule="constant",
        clipnorm=1.0,
        random_state=0,
    ).fit(text)
    used = gen.model_.optimizer.get_config()
    expected = {**given.get_config(), "learning_rate": 0.01, "clipnorm": 1.0}
    for key in ("beta_1", "beta_2", "epsilon", "weight_decay", "clipnorm"):
        assert used[key] == pytest.approx(expected[key]), key
    assert used["learning_rate"] == pytest.approx(0.01)
    assert gen.model_.optimizer is not given
