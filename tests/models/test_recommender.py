import keras
import numpy as np
import pytest

import tfzoo
from tests.backend_ops import to_numpy
from tfzoo.models import build_embedding_recommender


def test_shapes_and_parameter_count():
    model = build_embedding_recommender(10, 7, embedding_dim=4)
    assert model.input_shape == (None, 2) and model.output_shape == (None, 1)
    # vectors 10x4 + 7x4, biases 10 + 7, global bias 1
    assert model.count_params() == 40 + 28 + 17 + 1
    layer = model.get_layer("matrix_factorization")
    assert layer.embeddings_regularizer is not None
    assert (
        build_embedding_recommender(3, 3, l2=0)
        .get_layer("matrix_factorization")
        .embeddings_regularizer
        is None
    )


def test_learns_a_low_rank_matrix_as_a_keras_regressor():
    rng = np.random.default_rng(0)
    n_users, n_items = 30, 20
    P, Q = rng.standard_normal((n_users, 2)), rng.standard_normal((n_items, 2))
    ratings = 3.0 + P @ Q.T
    pairs = np.stack(np.meshgrid(np.arange(n_users), np.arange(n_items), indexing="ij"), -1)
    X, y = pairs.reshape(-1, 2).astype(float), ratings.reshape(-1)
    reg = tfzoo.KerasRegressor(
        build_embedding_recommender,
        model_kwargs={"n_users": n_users, "n_items": n_items, "embedding_dim": 4, "l2": 0},
        epochs=60,
        batch_size=64,
        learning_rate=0.02,
        random_state=0,
    ).fit(X, y)
    assert reg.score(X, y) > 0.95
    assert reg.predict(X[:1]).shape == (1,)


def test_starts_at_the_global_bias():
    model = build_embedding_recommender(5, 4, embedding_dim=3, global_bias=3.5)
    out = keras.ops.convert_to_numpy(model(np.array([[0, 0], [4, 3]], "float32")))
    np.testing.assert_allclose(out[:, 0], 3.5, atol=0.05)  # small random dot products only


def test_saves_and_loads(tmp_path):
    model = build_embedding_recommender(5, 4, embedding_dim=3, global_bias=1.5)
    x = np.array([[0, 1], [4, 3]], "float32")
    path = tmp_path / "rec.keras"
    model.save(path)
    np.testing.assert_array_equal(to_numpy(keras.saving.load_model(path)(x)), to_numpy(model(x)))


@pytest.mark.parametrize(
    "args,kwargs,match",
    [
        ((0, 3), {}, "n_users must be a positive integer"),
        ((3, 2.5), {}, "n_items must be a positive integer"),
        ((3, 3), {"embedding_dim": 0}, "embedding_dim must be a positive integer"),
        ((3, 3), {"l2": -1.0}, "l2 must be a non-negative number, got -1.0"),
        ((3, 3), {"l2": "big"}, "l2 must be a non-negative number"),
        ((3, 3), {"global_bias": None}, "global_bias must be a number, got None"),
    ],
)
def test_bad_arguments(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_embedding_recommender(*args, **kwargs)
