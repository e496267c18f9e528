"""Parameter-server training, which Keras 3's ``fit`` does not support.

``model.fit`` under ``ParameterServerStrategy`` fails ("you need to pass this
dataset to ClusterCoordinator.create_per_worker_dataset"). :func:`fit_ps`
is a small training loop over ``tf.distribute.coordinator.ClusterCoordinator``
for tfzoo builders: the chief schedules steps, workers run them, variables
live on the parameter servers. Worker and ps processes only serve:
:func:`serve` (or ``python -m tfzoo.distribute.parameter_server``).

The step count comes from a plain ``tf.Variable`` updated with ``assign_add``
on a parameter server; Keras's ``optimizer.iterations`` is not reliable
there (steps from different workers overwrite each other's update and some
are lost), so ``fit_ps`` reports its own counter.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf


def ps_strategy(cluster_resolver=None):
    """``ParameterServerStrategy`` from ``TF_CONFIG`` (or a given resolver)."""
    resolver = cluster_resolver or tf.distribute.cluster_resolver.TFConfigClusterResolver()
    return tf.distribute.experimental.ParameterServerStrategy(resolver)


def serve(cluster_resolver=None):
    """Run this process's ``tf.distribute.Server`` (a ps or worker task) until killed."""
    resolver = cluster_resolver or tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if resolver.task_type not in ("ps", "worker"):
        raise ValueError(f"serve() is for ps and worker tasks, this is {resolver.task_type!r}")
    server = tf.distribute.Server(
        resolver.cluster_spec(),
        job_name=resolver.task_type,
        task_index=resolver.task_id,
        protocol=resolver.rpc_layer or "grpc",
        start=True,
    )
    server.join()


def fit_ps(build_model, dataset_fn, strategy, *, epochs, steps_per_epoch, optimizer, loss):
    """Train ``build_model()`` under a ``ParameterServerStrategy`` from the chief.

    Args:
        build_model: callable returning an (uncompiled) Keras model; called in
            the strategy's scope so its variables go to the parameter servers.
        dataset_fn: ``dataset_fn() -> tf.data.Dataset`` of ``(x, y)`` batches,
            repeated; traced once and run on each worker (its own copy).
        strategy: a ``ParameterServerStrategy`` (see :func:`ps_strategy`).
        epochs, steps_per_epoch: steps scheduled per epoch.
        optimizer: a Keras optimizer (created in the scope by this function
            when given as a name).
        loss: a Keras loss (name or callable).

    Returns:
        ``(model, history)`` where ``history`` has ``loss`` (mean per epoch),
        ``steps`` (the parameter-server step counter after each epoch) and
        ``seconds``.
    """
    coordinator = tf.distribute.coordinator.ClusterCoordinator(strategy)
    loss_fn = keras.losses.get(loss)
    with strategy.scope():
        model = build_model()
        opt = keras.optimizers.get(optimizer) if isinstance(optimizer, str) else optimizer
        opt.build(model.trainable_variables)
        steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="ps_step_counter")
    per_worker = coordinator.create_per_worker_dataset(dataset_fn)
    iterator = iter(per_worker)

    @tf.function
    def train_step(it):
        def replica_fn(x, y):
            with tf.GradientTape() as tape:
                value = tf.reduce_mean(loss_fn(y, model(x, training=True)))
            grads = tape.gradient(value, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            steps.assign_add(1)
            return value

        x, y = next(it)
        per_replica = strategy.run(replica_fn, args=(x, y))
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)

    history = {"loss": [], "steps": [], "seconds": []}
    start = time.perf_counter()
    for _ in range(epochs):
        results = [
            coordinator.schedule(train_step, args=(iterator,)) for _ in range(steps_per_epoch)
        ]
        coordinator.join()
        history["loss"].append(float(np.mean([r.fetch() for r in results])))
        history["steps"].append(int(steps.numpy()))
        history["seconds"].append(time.perf_counter() - start)
    return model, history


if __name__ == "__main__":  # pragma: no cover - run as a ps/worker task
    serve()
