"""keras-tuner tuners whose trials train under a tfzoo distribution strategy.

keras-tuner builds and fits every trial's model inside
``distribution_strategy.scope()``; :func:`make_tuner` resolves that strategy
the way the estimators do (:func:`tfzoo.distribute.get_strategy`), so a
search runs on several GPUs, logical CPUs, workers or a TPU from one switch.

keras-tuner's own distributed tuning (one chief runs the oracle, workers run
trials) needs nothing more: it is switched on by the environment variables
``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP`` and
``KERASTUNER_ORACLE_PORT`` (see ``examples/distributed_tuning.py``).
"""

from __future__ import annotations

import contextlib

import keras
import keras_tuner as kt

from tfzoo.distribute.strategy import (
    get_strategy,
    is_keras_distribution,
    is_parameter_server,
    resolve_strategy_spec,
)
from tfzoo.estimators._seeding import as_seed


class _BuildsOptimizers:
    """Builds each trial model's optimizer as soon as the model is built,
    and on JAX fits it inside the trial's ``keras.distribution``.

    keras-tuner checkpoints a trained model's weights with its optimizer's
    variables, then reloads them (``get_best_models``, Hyperband's next
    round) into a fresh model whose optimizer has no variables yet: Keras
    warns that it skips them. With the optimizer built first, the checkpoint
    restores whole (optimizer state included) and nothing is skipped.

    keras-tuner builds a trial's model in ``distribution_strategy.scope()``
    but fits it outside: enough for ``tf.distribute`` (a model keeps its
    strategy), not for ``keras.distribution`` (Keras's JAX trainer shards each
    batch by the distribution active while ``fit`` runs). So under a
    :class:`~tfzoo.distribute.KerasDistributionStrategy` the whole trial runs
    in its scope, set again after the ``keras.backend.clear_session()`` that
    keras-tuner calls before each build (which forgets the distribution).
    """

    def _build_and_fit_model(self, trial, *args, **kwargs):
        strategy = self.distribution_strategy
        if not is_keras_distribution(strategy):
            return super()._build_and_fit_model(trial, *args, **kwargs)
        with strategy.scope():
            return super()._build_and_fit_model(trial, *args, **kwargs)

    def _try_build(self, hp):
        distribution = keras.distribution.distribution()
        try:
            return super()._try_build(hp)
        finally:
            if distribution is not None:  # clear_session() forgot it
                keras.distribution.set_distribution(distribution)

    def _override_compile_args(self, model):
        super()._override_compile_args(model)
        optimizer = getattr(model, "optimizer", None)
        if optimizer is None or optimizer.built or not model.built:
            return
        strategy = self.distribution_strategy
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            optimizer.build(model.trainable_variables)


class RandomSearch(_BuildsOptimizers, kt.RandomSearch):
    """``keras_tuner.RandomSearch`` whose best models reload with their optimizer state."""


class BayesianOptimization(_BuildsOptimizers, kt.BayesianOptimization):
    """``keras_tuner.BayesianOptimization`` whose best models reload with their optimizer state."""


class Hyperband(_BuildsOptimizers, kt.Hyperband):
    """``keras_tuner.Hyperband`` whose models reload with their optimizer state."""


class GridSearch(_BuildsOptimizers, kt.GridSearch):
    """``keras_tuner.GridSearch`` whose best models reload with their optimizer state."""


TUNERS = {
    "random": RandomSearch,
    "bayesian": BayesianOptimization,
    "hyperband": Hyperband,
    "grid": GridSearch,
}


def _trial_strategy(strategy="auto"):
    """The ``tf.distribute.Strategy`` a tuner should run its trials under, or ``None``.

    ``None`` and names that resolve to the default strategy give ``None`` (no
    scope: keras-tuner's own default); other names go through
    :func:`tfzoo.distribute.get_strategy`, which hands out the process's one
    strategy per device set. A ``tf.distribute.Strategy`` is returned as is.

    Raises:
        ValueError: for an unknown name, or a parameter-server strategy
            (Keras's ``fit``, which runs every trial, does not support it).
    """
    if strategy is None:
        return None
    if isinstance(strategy, str):
        name, _ = resolve_strategy_spec(strategy)
        if name == "default":
            return None
        if name == "ps":
            raise ValueError(
                "strategy='ps' cannot run tuner trials: Keras's fit does not support "
                "ParameterServerStrategy; use 'mirrored', 'multiworker' or 'tpu'"
            )
    resolved = get_strategy(strategy)
    if is_parameter_server(resolved):
        raise ValueError(
            "a ParameterServerStrategy cannot run tuner trials: Keras's fit does not "
            "support it; use a mirrored, multi-worker or TPU strategy"
        )
    return resolved


def make_tuner(
    hypermodel,
    tuner="random",
    *,
    objective="val_loss",
    max_trials=None,
    strategy="auto",
    directory=None,
    project_name="tfzoo",
    seed=None,
    overwrite=False,
    **kwargs,
):
    """A keras-tuner tuner whose trials build and train under ``strategy``.

    Args:
        hypermodel: a ``keras_tuner.HyperModel`` (e.g. a ``tfzoo.tuning``
            hypermodel) or a function ``hp -> compiled keras.Model``.
        tuner: ``"random"`` (``RandomSearch``), ``"bayesian"``
            (``BayesianOptimization``), ``"hyperband"`` or ``"grid"``
            (``GridSearch``).
        objective: what to optimise, as keras-tuner takes it (a metric
            name such as ``"val_loss"``, or a ``keras_tuner.Objective``).
        max_trials: parameter sets to try (``None``: the tuner's default, 10
            for random and bayesian, the whole grid for grid). Hyperband sizes
            its search with ``max_epochs`` instead and refuses it.
        strategy: ``"auto"``, ``"default"``, ``"mirrored"``, ``"multiworker"``,
            ``"tpu"`` (resolved by :func:`tfzoo.distribute.get_strategy`), a
            ``tf.distribute.Strategy``, or ``None`` (no strategy scope).
            ``"auto"`` picks ``MirroredStrategy`` only where more than one GPU
            is visible; on a machine without GPUs it is the default strategy
            (no scope), as fast as ``None``. Ask for ``"mirrored"`` only with
            several GPUs: on CPUs it runs one replica per logical CPU device
            and adds ``tf.distribute``'s cost to every step (a 3-trial search
            of the perceptron took 3.8x as long as with ``None`` on 2 cores,
            ``benchmarks/parallel_search.py``). On Keras's JAX backend the
            names resolve to ``keras.distribution`` (``"auto"`` with several
            devices: ``DataParallel``; a ``Distribution`` such as
            :func:`tfzoo.distribute.get_model_parallel`'s is taken too), and
            each trial is built and fit in its scope: the batches given to
            ``search`` must then split evenly over its batch axis.
        directory: where keras-tuner keeps the project (default: the current
            folder, as in keras-tuner). Distributed tuning needs one folder
            that the chief and every worker can reach.
        project_name: the project's folder under ``directory``.
        seed: seeds the oracle. keras-tuner treats ``0`` as "no seed", so
            ``seed + 1`` is passed on: every int, ``0`` included, fixes the search.
        overwrite: start afresh instead of resuming an existing project.
        **kwargs: passed on to the tuner (``executions_per_trial``,
            ``max_epochs`` and ``factor`` for hyperband, ``num_initial_points``
            for bayesian, ...).

    Returns:
        The tuner, a subclass of the keras-tuner class named (e.g.
        ``keras_tuner.RandomSearch``) that builds each model's optimizer
        with the model, so that ``get_best_models`` restores the best
        checkpoint whole (weights and optimizer state) without Keras's
        warning about skipped optimizer variables;
        ``tuner.distribution_strategy`` is the resolved strategy.

    Example:
        >>> tuner = make_tuner(PerceptronHyperModel(30), "bayesian", max_trials=10,
        ...                    strategy="auto", directory="runs")  # all GPUs if several
        >>> tuner.search(x, y, epochs=20, validation_split=0.2)
        >>> best = tuner.get_best_models(1)[0]
    """
    if not isinstance(tuner, str) or tuner not in TUNERS:
        raise ValueError(f"tuner must be one of {sorted(TUNERS)}, got {tuner!r}")
    if tuner == "hyperband":
        if max_trials is not None:
            raise ValueError(
                f"tuner='hyperband' has no max_trials (got {max_trials!r}): "
                "size its search with max_epochs=... and factor=..."
            )
    elif max_trials is not None:
        kwargs["max_trials"] = max_trials
    trial_strategy = _trial_strategy(strategy)
    spmd = is_keras_distribution(trial_strategy)
    made = TUNERS[tuner](
        hypermodel,
        objective=objective,
        seed=None if seed is None else as_seed(seed) + 1,
        # keras-tuner's constructor reads tf.distribute's `strategy.extended`, which
        # a keras.distribution has not: it is set after (nothing else reads it there)
        distribution_strategy=None if spmd else trial_strategy,
        directory=None if directory is None else str(directory),
        project_name=project_name,
        overwrite=overwrite,
        **kwargs,
    )
    if spmd:
        made.distribution_strategy = trial_strategy
    return made
