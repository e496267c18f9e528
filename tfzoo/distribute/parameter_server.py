"""Parameter-server training, which Keras 3's ``fit`` does not support.

``model.fit`` under ``ParameterServerStrategy`` fails ("you need to pass this
dataset to ClusterCoordinator.create_per_worker_dataset"). :func:`fit_ps`
is a small training loop over ``tf.distribute.coordinator.ClusterCoordinator``
for tfzoo builders: the chief schedules steps, workers run them, variables
live on the parameter servers. Worker and ps processes only serve:
:func:`serve` (or ``python -m tfzoo.distribute.parameter_server``).

The step count is the number of steps whose results came back to the chief
(a step the coordinator re-runs after a worker failure counts once); Keras's
``optimizer.iterations`` is not reliable there (steps from different workers
overwrite each other's update and some are lost). ``fit_ps`` saves and
resumes checkpoints (``checkpoint_dir``) and bounds each epoch's wait for the
workers (``epoch_timeout``).
"""

from __future__ import annotations

import numbers
import time

import keras
import numpy as np

from tfzoo._backend import require_tensorflow_backend
from tfzoo._backend import tensorflow as tf


def ps_strategy(cluster_resolver=None):
    """``ParameterServerStrategy`` from ``TF_CONFIG`` (or a given resolver)."""
    require_tensorflow_backend("tfzoo.distribute.ps_strategy (tf.distribute)")
    resolver = cluster_resolver or tf.distribute.cluster_resolver.TFConfigClusterResolver()
    return tf.distribute.experimental.ParameterServerStrategy(resolver)


def serve(cluster_resolver=None):
    """Run this process's ``tf.distribute.Server`` (a ps or worker task) until killed."""
    require_tensorflow_backend("tfzoo.distribute.serve (tf.distribute)")
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


def fit_ps(
    build_model,
    dataset_fn,
    strategy,
    *,
    epochs,
    steps_per_epoch,
    optimizer,
    loss,
    checkpoint_dir=None,
    max_to_keep=2,
    epoch_timeout=3600.0,
):
    """Train ``build_model()`` under a ``ParameterServerStrategy`` from the chief.

    Args:
        build_model: callable returning an (uncompiled) Keras model; called in
            the strategy's scope so its variables go to the parameter servers.
            The model's own losses (``model.losses``: weight regularizers,
            ``add_loss``) are added to ``loss``, as Keras's ``fit`` does.
        dataset_fn: ``dataset_fn() -> tf.data.Dataset`` of ``(x, y)`` batches,
            repeated; traced once and run on each worker (its own copy).
        strategy: a ``ParameterServerStrategy`` (see :func:`ps_strategy`).
        epochs: the epoch to train up to (counting epochs restored from
            ``checkpoint_dir``); steps_per_epoch: steps scheduled per epoch.
        optimizer: a Keras optimizer (created in the scope by this function
            when given as a name).
        loss: a Keras loss (name or callable).
        checkpoint_dir: when given, the chief saves the model, the optimizer
            and the epoch and step counts there after each epoch
            (``tf.train.CheckpointManager``, ``max_to_keep`` kept) and a later
            call with the same folder resumes after the last saved epoch.
        epoch_timeout: seconds an epoch may take; past them ``fit_ps`` raises
            ``TimeoutError`` (e.g. the workers are gone and the coordinator
            would wait for them for ever). ``None``: no limit. The
            coordinator still holds the unfinished steps afterwards: restart
            the cluster (and resume from ``checkpoint_dir``).

    Returns:
        ``(model, history)`` where ``history`` has, for each epoch trained in
        this call, ``epoch`` (1-based), ``loss`` (mean of the steps' losses,
        penalties included), ``steps`` (training steps completed so far,
        restored ones included) and ``seconds``.

    Steps are counted by the coordinator's results, one per completed
    closure: when a worker fails, the coordinator runs its steps again on
    another worker, and such a step is counted once (its gradient update
    may have reached the parameter servers twice: at-least-once delivery).
    """
    require_tensorflow_backend("tfzoo.distribute.fit_ps (tf.distribute)")
    if epoch_timeout is not None and not (
        isinstance(epoch_timeout, numbers.Real) and epoch_timeout > 0
    ):
        raise ValueError(f"epoch_timeout must be None or a positive number, got {epoch_timeout!r}")
    if not isinstance(max_to_keep, numbers.Integral) or max_to_keep < 1:
        raise ValueError(f"max_to_keep must be an integer >= 1, got {max_to_keep!r}")
    coordinator = tf.distribute.coordinator.ClusterCoordinator(strategy)
    loss_fn = keras.losses.get(loss)
    with strategy.scope():
        model = build_model()
        opt = keras.optimizers.get(optimizer) if isinstance(optimizer, str) else optimizer
        opt.build(model.trainable_variables)
    # Counters live on the chief (outside the scope), in the checkpoint.
    done_epochs = tf.Variable(0, dtype=tf.int64, trainable=False, name="fit_ps_epochs")
    done_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="fit_ps_steps")
    manager = None
    if checkpoint_dir is not None:
        checkpoint = tf.train.Checkpoint(
            model=model, optimizer=opt, epochs=done_epochs, steps=done_steps
        )
        manager = tf.train.CheckpointManager(checkpoint, str(checkpoint_dir), max_to_keep)
        if manager.latest_checkpoint:
            checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    per_worker = coordinator.create_per_worker_dataset(dataset_fn)
    iterator = iter(per_worker)

    @tf.function
    def train_step(it):
        def replica_fn(x, y):
            with tf.GradientTape() as tape:
                value = tf.reduce_mean(loss_fn(y, model(x, training=True)))
                if model.losses:  # regularizers and add_loss terms
                    value = value + tf.add_n([tf.cast(v, value.dtype) for v in model.losses])
            grads = tape.gradient(value, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return value

        x, y = next(it)
        per_replica = strategy.run(replica_fn, args=(x, y))
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)

    history = {"epoch": [], "loss": [], "steps": [], "seconds": []}
    start = time.perf_counter()
    for epoch in range(int(done_epochs.numpy()), epochs):
        results = [
            coordinator.schedule(train_step, args=(iterator,)) for _ in range(steps_per_epoch)
        ]
        _join(coordinator, results, epoch_timeout, epoch + 1)
        losses = [r.fetch() for r in results]  # one value per completed step
        done_epochs.assign(epoch + 1)
        done_steps.assign_add(len(losses))
        if manager is not None:
            manager.save(checkpoint_number=epoch + 1)
        history["epoch"].append(epoch + 1)
        history["loss"].append(float(np.mean(losses)))
        history["steps"].append(int(done_steps.numpy()))
        history["seconds"].append(time.perf_counter() - start)
    return model, history


def _join(coordinator, results, timeout, epoch):
    """``coordinator.join()`` that gives up after ``timeout`` seconds."""
    if timeout is None:
        coordinator.join()
        return
    deadline = time.monotonic() + timeout
    while not coordinator.done():  # done() raises the steps' errors, as join() does
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"fit_ps: the {len(results)} steps of epoch {epoch} did not finish within "
                f"epoch_timeout={timeout} s; are the workers and parameter servers running "
                "and reachable?"
            )
        time.sleep(0.05)
    coordinator.join()


if __name__ == "__main__":  # pragma: no cover - run as a ps/worker task
    serve()
