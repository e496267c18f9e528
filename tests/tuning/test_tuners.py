"""make_tuner: keras-tuner searches whose trials train under a tfzoo strategy."""

import warnings

import keras
import keras_tuner as kt
import numpy as np
import pytest
import tensorflow as tf

from tfzoo.distribute import get_strategy
from tfzoo.tuning import PerceptronHyperModel, make_tuner

DISTRIBUTED = ("MirroredVariable", "SyncOnReadVariable")


def _not_mirrored(model):
    return [w.path for w in model.weights if type(w.value).__name__ not in DISTRIBUTED]


class RecordVariables(keras.callbacks.Callback):
    """Records, per trial, the variables of the model being trained that are not mirrored.

    keras-tuner deep-copies callbacks for every trial, so the record is a class attribute.
    """

    seen = []

    def on_train_begin(self, logs=None):
        type(self).seen.append(_not_mirrored(self.model))


def _data(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, (x.sum(axis=1) > 0).astype("float32")


@pytest.mark.tensorflow_only
@pytest.mark.slow
def test_search_trains_every_trial_under_the_mirrored_strategy(tmp_path):
    strategy = get_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2  # the 2 logical CPUs of conftest.py
    tuner = make_tuner(
        PerceptronHyperModel(3),
        "random",
        max_trials=2,
        strategy="mirrored",
        directory=tmp_path,
        seed=0,
    )
    # tfzoo's one MirroredStrategy per device set, not a second one
    assert tuner.distribution_strategy is strategy
    RecordVariables.seen = []
    x, y = _data(32, 0)
    tuner.search(
        x,
        y,
        epochs=1,
        batch_size=8,
        validation_data=_data(16, 1),
        callbacks=[RecordVariables()],
        verbose=0,
    )
    assert RecordVariables.seen == [[], []]  # two trials, every variable mirrored
    trials = list(tuner.oracle.trials.values())
    assert len(trials) == 2
    assert all(t.status == "COMPLETED" and np.isfinite(t.score) for t in trials)
    assert len({tuple(sorted(t.hyperparameters.values.items())) for t in trials}) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. no "Skipping variable loading for optimizer"
        best = tuner.get_best_models(1)[0]
    assert best.weights and not _not_mirrored(best)
    assert best.predict(x[:4], verbose=0).shape == (4, 1)
    assert (
        tuner.get_best_hyperparameters(1)[0].values
        == tuner.oracle.get_best_trials(1)[0].hyperparameters.values
    )


def test_best_model_reloads_weights_and_optimizer_state_without_warnings(tmp_path, set_seed):
    set_seed(0)  # the best epoch must be the last one: not left to earlier tests' draws
    tuner = make_tuner(
        PerceptronHyperModel(3), "random", max_trials=1, strategy="default", directory=tmp_path
    )
    x, y = _data(32, 0)
    tuner.search(x, y, epochs=2, batch_size=8, validation_data=_data(16, 1), verbose=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        best = tuner.get_best_models(1)[0]
    # (Keras's own variables warn on JAX when NumPy converts them: not ours, and pyproject
    # ignores Keras's deprecations too)
    ours = [w for w in caught if not (w.category is DeprecationWarning and "keras" in w.filename)]
    assert [str(w.message) for w in ours] == []
    # The checkpoint came back whole: weights and the optimizer's state after 2 x 4 steps.
    assert int(best.optimizer.iterations.numpy()) == 8
    assert all(np.any(v.numpy() != 0) for v in best.optimizer.variables[2:])
    assert best.predict(x[:4], verbose=0).shape == (4, 1)


@pytest.mark.tensorflow_only
def test_strategy_names_and_objects(tmp_path):
    hypermodel = PerceptronHyperModel(3)
    for spec in (None, "default"):  # no strategy scope, keras-tuner's own default
        tuner = make_tuner(hypermodel, strategy=spec, directory=tmp_path, project_name=str(spec))
        assert tuner.distribution_strategy is None
    mirrored = get_strategy("mirrored")
    tuner = make_tuner(hypermodel, strategy=mirrored, directory=tmp_path, project_name="object")
    assert tuner.distribution_strategy is mirrored


def test_tuner_kinds_and_their_settings(tmp_path):
    hypermodel = PerceptronHyperModel(3)
    kinds = {
        "random": kt.RandomSearch,
        "bayesian": kt.BayesianOptimization,
        "grid": kt.GridSearch,
        "hyperband": kt.Hyperband,
    }
    for name, cls in kinds.items():
        extra = {"max_epochs": 4} if name == "hyperband" else {"max_trials": 3}
        tuner = make_tuner(
            hypermodel,
            name,
            objective="val_loss",
            strategy="default",
            directory=tmp_path,
            project_name=name,
            seed=0,
            **extra,
        )
        # tfzoo's subclass of the keras-tuner class (it builds each model's optimizer)
        assert isinstance(tuner, cls) and type(tuner).__name__ == cls.__name__, name
        assert tuner.oracle.seed == 1  # seed 0 still fixes the search
        assert tuner.oracle.objective.name == "val_loss"
        assert tuner.project_dir == str(tmp_path / name)
    assert tuner.oracle.max_epochs == 4
    assert make_tuner(hypermodel, "grid", directory=tmp_path).oracle.max_trials is None


def test_bad_arguments_are_clear_errors(tmp_path):
    hypermodel = PerceptronHyperModel(3)
    with pytest.raises(ValueError, match=r"tuner must be one of .*got 'hyper'"):
        make_tuner(hypermodel, "hyper", directory=tmp_path)
    with pytest.raises(ValueError, match="tuner must be one of"):
        make_tuner(hypermodel, kt.RandomSearch, directory=tmp_path)
    with pytest.raises(ValueError, match=r"no max_trials \(got 5\).*max_epochs"):
        make_tuner(hypermodel, "hyperband", max_trials=5, directory=tmp_path)
    with pytest.raises(ValueError, match="strategy must be one of .*got 'mirror'"):
        make_tuner(hypermodel, strategy="mirror", directory=tmp_path)
    with pytest.raises(ValueError, match="strategy='ps' cannot run tuner trials"):
        make_tuner(hypermodel, strategy="ps", directory=tmp_path)
    assert not tf.distribute.has_strategy()
