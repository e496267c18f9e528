"""Matrix factorisation: user and item embeddings, dot product plus biases, as one layer."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfzoo._saving import serializable
from tfzoo._validation import check_int


@serializable
class MatrixFactorization(keras.layers.Layer):
    """``score(u, i) = pᵤ·qᵢ + bᵤ + bᵢ + b`` for a pair of ids ``(u, i)``.

    Every user ``u`` has a learned vector ``pᵤ`` (a row of ``user_embeddings``)
    and bias ``bᵤ``; every item ``i`` a vector ``qᵢ`` and bias ``bᵢ``; ``b`` is
    one global bias (the mean rating, or the base rate of an interaction).
    The input holds both ids in its last axis, so the layer fits a model
    with one input of shape ``(batch, 2)``. Ids may be floats (as a
    scikit-learn estimator passes them) and are cast to ``int32``; they are
    not cast to a low-precision compute dtype first (``autocast`` is off, as
    in ``keras.layers.Embedding``), so ids above 256 survive a
    ``mixed_bfloat16`` policy. Ids must be integral and inside their tables:
    a negative id (``-1`` is pandas' code for a missing category), a
    fractional one (3.9) or one past the table raises
    ``InvalidArgumentError`` on TensorFlow, and scores NaN where no check can
    stop the computation (XLA), never a plausible number.

    Args:
        n_users: rows of the user tables (ids ``0 … n_users-1``).
        n_items: rows of the item tables (ids ``0 … n_items-1``).
        embedding_dim: length of the user and item vectors.
        embeddings_initializer: initializer of the vectors (the bias tables start at 0).
        bias_initializer: initializer of the global bias ``b`` (e.g.
            ``keras.initializers.Constant(mean_rating)`` to start at the mean).
        embeddings_regularizer: optional regularizer of the two vector tables.
        bias_regularizer: optional regularizer of the two bias tables (not of ``b``).
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Input shape:
        ``(..., 2)``: ``[..., 0]`` user ids, ``[..., 1]`` item ids.

    Output shape:
        ``(..., 1)``.

    Example:
        >>> layer = MatrixFactorization(n_users=10, n_items=5, embedding_dim=4)
        >>> layer(np.array([[0, 1], [9, 4]], "float32")).shape
        TensorShape([2, 1])
    """

    def __init__(
        self,
        n_users,
        n_items,
        embedding_dim=32,
        embeddings_initializer="random_normal",
        bias_initializer="zeros",
        embeddings_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        n_users = check_int(n_users, "n_users")
        n_items = check_int(n_items, "n_items")
        embedding_dim = check_int(embedding_dim, "embedding_dim")
        self.n_users = int(n_users)
        self.n_items = int(n_items)
        self.embedding_dim = int(embedding_dim)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.embeddings_regularizer = keras.regularizers.get(embeddings_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.autocast = False
        self.input_spec = keras.layers.InputSpec(min_ndim=1, axes={-1: 2})

    def build(self, input_shape):
        vectors = dict(
            initializer=self.embeddings_initializer, regularizer=self.embeddings_regularizer
        )
        biases = dict(initializer="zeros", regularizer=self.bias_regularizer)
        self.user_embeddings = self.add_weight(
            name="user_embeddings", shape=(self.n_users, self.embedding_dim), **vectors
        )
        self.item_embeddings = self.add_weight(
            name="item_embeddings", shape=(self.n_items, self.embedding_dim), **vectors
        )
        self.user_bias = self.add_weight(name="user_bias", shape=(self.n_users, 1), **biases)
        self.item_bias = self.add_weight(name="item_bias", shape=(self.n_items, 1), **biases)
        self.bias = self.add_weight(name="bias", shape=(1,), initializer=self.bias_initializer)

    def call(self, inputs):
        ids = ops.cast(inputs, "int32")
        valid = self._valid_ids(inputs, ids)
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            # Raises in eager and graph mode (XLA compiles Assert to nothing:
            # there the NaN below still marks every invalid pair).
            tf.debugging.Assert(
                tf.reduce_all(valid),
                [
                    self._invalid_ids_message(),
                    tf.boolean_mask(tf.reshape(inputs, (-1, 2)), ~tf.reshape(valid, (-1,))),
                ],
                summarize=6,
                name="check_ids",
            )
        elif keras.backend.backend() == "jax":
            valid = self._check_ids_on_host(inputs, valid)
        else:  # torch (eager): the values are at hand
            self._raise_for_invalid(
                keras.ops.convert_to_numpy(inputs), keras.ops.convert_to_numpy(valid)
            )
        # Gather at id 0 for invalid pairs (never a negative index, which
        # ops.take would read from the end of the table).
        ids = ops.where(ops.expand_dims(valid, -1), ids, ops.zeros_like(ids))
        users, items = ids[..., 0], ids[..., 1]
        p = ops.take(self.user_embeddings, users, axis=0)
        q = ops.take(self.item_embeddings, items, axis=0)
        score = (
            ops.sum(p * q, axis=-1, keepdims=True)
            + ops.take(self.user_bias, users, axis=0)
            + ops.take(self.item_bias, items, axis=0)
            + self.bias
        )
        # An invalid pair never gets a plausible score: NaN where the check
        # above cannot stop the computation.
        score = ops.where(ops.expand_dims(valid, -1), score, ops.full_like(score, float("nan")))
        return ops.cast(score, self.compute_dtype)

    def _invalid_ids_message(self):
        return (
            f"MatrixFactorization: ids must be integers in 0 … n_users-1 "
            f"({self.n_users} users) and 0 … n_items-1 ({self.n_items} items); "
            "-1 (pandas' code for a missing category), fractions and ids past "
            "the tables are refused. First invalid (user, item) pairs:"
        )

    def _raise_for_invalid(self, inputs, valid):
        valid = np.asarray(valid, dtype=bool)
        if not valid.all():
            bad = np.asarray(inputs).reshape(-1, 2)[~valid.reshape(-1)][:6]
            raise ValueError(f"{self._invalid_ids_message()} {bad.tolist()}")
        return np.ones((), dtype=bool)

    def _check_ids_on_host(self, inputs, valid):
        """On JAX: raise for invalid ids, inside ``jax.jit`` too.

        A host callback whose result feeds the output (so it is never
        pruned) checks the ids; its ``ValueError`` reaches the caller as
        JAX's runtime error with this message (``fit``, ``predict``, eager calls).
        """
        import jax

        ok = jax.pure_callback(
            self._raise_for_invalid,
            jax.ShapeDtypeStruct((), bool),
            inputs,
            valid,
        )
        return valid & ok

    def _valid_ids(self, inputs, ids):
        """Per pair: both ids integral and inside their tables."""
        valid = (ids[..., 0] >= 0) & (ids[..., 0] < self.n_users)
        valid = valid & (ids[..., 1] >= 0) & (ids[..., 1] < self.n_items)
        if not keras.backend.is_int_dtype(keras.backend.standardize_dtype(inputs.dtype)):
            x = ops.cast(inputs, "float32")
            valid = valid & ops.all(ops.equal(x, ops.floor(x)), axis=-1)
            # a float below -1 casts to an id >= 0 only by truncation: check the sign too
            valid = valid & ops.all(x >= 0, axis=-1)
        return valid

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (1,)

    def get_config(self):
        return {
            **super().get_config(),
            "n_users": self.n_users,
            "n_items": self.n_items,
            "embedding_dim": self.embedding_dim,
            "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "embeddings_regularizer": keras.regularizers.serialize(self.embeddings_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
        }
