"""Train a builder's model under any strategy with one call."""

from __future__ import annotations

import contextlib

import keras

from tfzoo.distribute import keras_fixes
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
        compile_kwargs: arguments of ``model.compile`` (optimizer, loss, ...);
            ``steps_per_execution`` is 1 under ``MultiWorkerMirroredStrategy``
            (:func:`tfzoo.distribute.keras_fixes.steps_per_execution`).
        **fit_kwargs: arguments of ``model.fit``. ``batch_size`` is the global
            batch; under ``tf.distribute`` it need not split evenly over the
            replicas. Under a ``keras.distribution`` (JAX: ``"auto"`` with
            several devices) ``fit`` runs inside its scope, which shards every
            batch over the devices: each batch, the last included, must split
            evenly (JAX raises ``IndivisibleError`` otherwise; the estimators pad
            such batches themselves).

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
        model.compile(**compile_kwargs)
    # Keras's JAX trainer shards batches by the distribution active when fit runs
    with strategy.scope() if is_keras_distribution(strategy) else contextlib.nullcontext():
        history = model.fit(x, y, **fit_kwargs)
    return model, history
