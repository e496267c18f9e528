import keras
import numpy as np
import pytest

from tfzoo.layers import MatrixFactorization
from tfzoo.testing import run_layer_test


def _pairs(n=8, n_users=6, n_items=5, seed=0):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.integers(0, n_users, n), rng.integers(0, n_items, n)]).astype(
        "float32"
    )


def test_matrix_factorization_layer_contract():
    layer = run_layer_test(
        MatrixFactorization,
        {
            "n_users": 6,
            "n_items": 5,
            "embedding_dim": 3,
            "bias_initializer": "ones",
            "embeddings_regularizer": "l2",
        },
        input_data=_pairs(),
        expected_output_shape=(8, 1),
        expected_num_trainable_weights=5,
    )
    assert tuple(layer.user_embeddings.shape) == (6, 3)
    assert tuple(layer.item_embeddings.shape) == (5, 3)
    assert tuple(layer.user_bias.shape) == (6, 1) and tuple(layer.item_bias.shape) == (5, 1)


def test_score_is_dot_product_plus_biases():
    layer = MatrixFactorization(3, 4, embedding_dim=2)
    layer.build((None, 2))
    rng = np.random.default_rng(1)
    P, Q = rng.standard_normal((3, 2)), rng.standard_normal((4, 2))
    bu, bi = rng.standard_normal((3, 1)), rng.standard_normal((4, 1))
    for weight, value in zip(
        (
            layer.user_embeddings,
            layer.item_embeddings,
            layer.user_bias,
            layer.item_bias,
            layer.bias,
        ),
        (P, Q, bu, bi, [0.5]),
    ):
        weight.assign(np.asarray(value, "float32"))
    pairs = np.array([[0, 3], [2, 1], [1, 1]])
    expected = [P[u] @ Q[i] + bu[u, 0] + bi[i, 0] + 0.5 for u, i in pairs]
    for dtype in ("float32", "int32"):
        out = keras.ops.convert_to_numpy(layer(pairs.astype(dtype)))
        np.testing.assert_allclose(out[:, 0], expected, rtol=1e-5)


def test_ids_are_not_rounded_by_a_bfloat16_policy():
    layer = MatrixFactorization(1000, 3, embedding_dim=2, dtype="mixed_bfloat16")
    layer.build((None, 2))
    table = np.zeros((1000, 2), "float32")
    table[999] = 1.0  # bfloat16 would round 999 to 1000 (out of range) or 996
    layer.user_embeddings.assign(table)
    layer.item_embeddings.assign(np.ones((3, 2), "float32"))
    out = keras.ops.convert_to_numpy(layer(np.array([[999.0, 2.0], [996.0, 2.0]], "float32")))
    np.testing.assert_array_equal(out[:, 0], [2.0, 0.0])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_users": 0, "n_items": 3}, "n_users must be a positive integer, got 0"),
        ({"n_users": 2, "n_items": 1.5}, "n_items must be a positive integer, got 1.5"),
        ({"n_users": 2, "n_items": 3, "embedding_dim": -1}, "embedding_dim must be"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MatrixFactorization(**kwargs)


def test_input_needs_two_ids():
    with pytest.raises(ValueError, match="expected axis -1"):
        MatrixFactorization(3, 3)(np.zeros((2, 3), "float32"))
