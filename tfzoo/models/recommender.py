"""An embedding recommender (matrix factorisation) as a model builder."""

from __future__ import annotations

import numbers

import keras

from tfzoo._validation import check_int
from tfzoo.layers.matrix_factorization import MatrixFactorization


def build_embedding_recommender(
    n_users, n_items, embedding_dim=32, l2=1e-5, global_bias=0.0, name=None
):
    """``(user, item)`` ids -> ``pᵤ·qᵢ + bᵤ + bᵢ + b`` (uncompiled).

    Train it with mean squared error on explicit ratings, or with a
    from-logits binary cross-entropy on watched / not-watched pairs
    (implicit feedback) and rank items by the output. The input is one row
    of two ids per sample, so the model fits a one-input estimator:
    ``tfzoo.KerasRegressor(model=build_embedding_recommender,
    model_kwargs={"n_users": ..., "n_items": ...})`` with ``X`` of shape
    ``(n, 2)``.

    Args:
        n_users: number of users (ids ``0 … n_users-1``).
        n_items: number of items (ids ``0 … n_items-1``).
        embedding_dim: length of the user and item vectors.
        l2: L2 penalty on the vector and bias tables (0 for none); Keras adds it
            to the loss of every batch, for the whole tables.
        global_bias: initial value of the global bias ``b``: the mean rating
            (or the log-odds of an interaction) lets training start from the
            mean instead of spending its first steps getting there.
        name: model name (default ``"embedding_recommender"``).

    Returns:
        A functional ``keras.Model`` ``(batch, 2) -> (batch, 1)``; its layer
        ``matrix_factorization`` (:class:`tfzoo.layers.MatrixFactorization`)
        holds ``user_embeddings`` and ``item_embeddings``.

    Example:
        >>> model = build_embedding_recommender(100, 50, embedding_dim=8)
        >>> model.compile("adam", "mse")
        >>> model.fit(pairs, ratings)  # pairs: (n, 2) user and item ids
    """
    n_users = check_int(n_users, "n_users")
    n_items = check_int(n_items, "n_items")
    embedding_dim = check_int(embedding_dim, "embedding_dim")
    if isinstance(l2, bool) or not isinstance(l2, numbers.Real) or not l2 >= 0:
        raise ValueError(f"l2 must be a non-negative number, got {l2!r}")
    if isinstance(global_bias, bool) or not isinstance(global_bias, numbers.Real):
        raise ValueError(f"global_bias must be a number, got {global_bias!r}")
    regularizer = keras.regularizers.L2(float(l2)) if l2 > 0 else None
    inputs = keras.Input(shape=(2,), name="user_item")
    outputs = MatrixFactorization(
        n_users,
        n_items,
        embedding_dim,
        bias_initializer=keras.initializers.Constant(float(global_bias)),
        embeddings_regularizer=regularizer,
        bias_regularizer=regularizer,
        name="matrix_factorization",
    )(inputs)
    return keras.Model(inputs, outputs, name=name or "embedding_recommender")
