"""Train a builder's model under any strategy with one call."""

from __future__ import annotations

import contextlib

import keras

from tfzoo.distribute import jax_multiworker, keras_fixes
from tfzoo.distribute.strategy import get_strategy, is_keras_distribution, is_parameter_server


def fit(build_model, x=None, y=None, *, strategy="auto", compile_kwargs=None, **fit_kwargs):
    """Build, compile and fit a model under ``strategy`` (a name or a Strategy).

    Args:
        build_model: a function returning an uncompiled ``keras.Model`` (any
            ``tfzoo.models.build_*`` with its arguments bound, e.g. by a lambda).
            It is called inside ``strategy.scope()``, so the variables are the
            strategy's (mirrored, on TPU cores...).
        x, y: training data, as ``model.fit`` takes them.
        strategy: see :func:`tfzoo.distribute.get_strategy`. Parameter-server
            training does not go through Keras's ``fit``: use
            :func:`tfzoo.distribute.fit_ps`.
        compile_kwargs: arguments of ``model.compile`` (optimizer, loss, ...).
            Under a ``keras.distribution`` (JAX) an optimizer object that has
            not been built yet is made again from its config inside the scope
            (Keras creates its step counter and learning rate when it is made,
            and they must be laid out on the distribution's devices too);
            ``steps_per_execution`` is 1 under ``MultiWorkerMirroredStrategy``
            (:func:`tfzoo.distribute.keras_fixes.steps_per_execution`).
        **fit_kwargs: arguments of ``model.fit``. ``batch_size`` is the global
            batch; under ``tf.distribute`` it need not split evenly over the
            replicas. Under a ``keras.distribution`` (JAX: ``"auto"`` with
            several devices) ``fit`` runs inside its scope, which shards every
            batch over the devices: each batch, the last included, must split
            evenly (JAX raises ``IndivisibleError`` otherwise; the estimators pad
            such batches themselves). Under ``"multiworker"`` on JAX every
            process calls ``fit`` with the same arguments: NumPy data are cut
            so that each process feeds its share of every global batch (rows
            ``[p * B / P, (p + 1) * B / P)`` of each batch of ``B``; with
            ``shuffle`` each process shuffles its own rows), a
            ``tf.data.Dataset`` is sharded by Keras; every batch must split
            evenly over all processes' devices (``ValueError`` otherwise).

    Returns:
        ``(model, history)``.
    """
    if isinstance(build_model, keras.Model) or not callable(build_model):
        raise TypeError(
            "fit needs a function that builds the model (so that it is built inside "
            f"the strategy's scope), got {type(build_model).__name__}"
        )
    strategy = get_strategy(strategy)
    if is_parameter_server(strategy):
        raise ValueError(
            "Keras's fit does not support ParameterServerStrategy: use "
            "tfzoo.distribute.fit_ps with a ClusterCoordinator"
        )
    compile_kwargs = dict(compile_kwargs or {})
    if "steps_per_execution" in compile_kwargs:
        compile_kwargs["steps_per_execution"] = keras_fixes.steps_per_execution(
            strategy, compile_kwargs["steps_per_execution"]
        )
    with strategy.scope():
        model = build_model()
        if is_keras_distribution(strategy):
            compile_kwargs = _optimizer_in_scope(compile_kwargs)
        model.compile(**compile_kwargs)
    if not is_keras_distribution(strategy):
        return model, model.fit(x, y, **fit_kwargs)
    distribution = strategy.distribution
    process = jax_multiworker.process_share(distribution)
    if process is not None:  # "multiworker": each process feeds its share of every batch
        x, y, fit_kwargs = jax_multiworker.shard_fit_arguments(
            x, y, fit_kwargs, process, strategy.num_replicas_in_sync
        )
        local_input = jax_multiworker.process_local_input(distribution)
    else:
        local_input = contextlib.nullcontext()
    # Keras's JAX trainer shards batches by the distribution active when fit runs
    with strategy.scope(), local_input:
        history = model.fit(x, y, **fit_kwargs)
    return model, history


def _optimizer_in_scope(compile_kwargs):
    """``compile_kwargs`` with an unbuilt optimizer object made again in the current scope."""
    optimizer = compile_kwargs.get("optimizer")
    if isinstance(optimizer, keras.optimizers.Optimizer) and not optimizer.built:
        compile_kwargs = {
            **compile_kwargs,
            "optimizer": type(optimizer).from_config(optimizer.get_config()),
        }
    return compile_kwargs
