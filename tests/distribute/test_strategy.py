import json
import logging

import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression

from tfzoo.distribute import get_strategy, resolve_strategy_spec, tf_config_workers, tpu_address
from tfzoo.models import build_linear_regression, fit_normal_equations


def test_tpu_resolution_order(tmp_path):
    none = str(tmp_path / "accel*")
    assert tpu_address({}, none)[0] is None
    assert tpu_address({"TPU_NAME": "my-tpu"}, none)[0] == "my-tpu"
    colab = {"COLAB_TPU_ADDR": "10.0.0.2:8470"}
    assert tpu_address(colab, none)[0] == "grpc://10.0.0.2:8470"
    # TPU_NAME wins over Colab's variable
    assert tpu_address({**colab, "TPU_NAME": "vm"}, none)[0] == "vm"
    (tmp_path / "accel0").write_text("")
    address, why = tpu_address({}, str(tmp_path / "accel*"))
    assert address == "local" and "TPU VM" in why


def test_auto_resolution_order(tmp_path):
    none = str(tmp_path / "accel*")
    two_workers = {
        "TF_CONFIG": json.dumps(
            {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}
        )
    }
    assert resolve_strategy_spec("auto", {}, 0, none)[0] == "default"
    assert resolve_strategy_spec("auto", {}, 1, none)[0] == "default"
    assert resolve_strategy_spec("auto", {}, 2, none) == ("mirrored", "2 GPUs visible")
    assert resolve_strategy_spec("auto", two_workers, 1, none)[0] == "multiworker"
    assert resolve_strategy_spec("auto", {**two_workers, "TPU_NAME": "x"}, 4, none)[0] == "tpu"
    # The cluster wins over local GPUs: every worker of a multi-GPU cluster must
    # train the cluster's one model, not a mirrored model of its own (this line
    # pinned "mirrored" before the audit).
    assert resolve_strategy_spec("auto", two_workers, 2, none)[0] == "multiworker"
    with_ps = {
        "TF_CONFIG": json.dumps(
            {
                "cluster": {"chief": ["c:0"], "worker": ["a:1", "b:2"], "ps": ["p:3"]},
                "task": {"type": "worker", "index": 0},
            }
        )
    }
    assert resolve_strategy_spec("auto", with_ps, 0, none)[0] == "ps"
    assert resolve_strategy_spec("auto", with_ps, 4, none)[0] == "ps"
    assert tf_config_workers({"TF_CONFIG": json.dumps({"cluster": {"chief": ["a:1"]}})}) == 1
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        tf_config_workers({"TF_CONFIG": "{nope"})
    with pytest.raises(ValueError, match="strategy must be one of"):
        resolve_strategy_spec("gpus")


def test_multiworker_without_tf_config_says_it_trains_alone(monkeypatch):
    from tfzoo.distribute import strategy as strategy_module

    # Creating a real MultiWorkerMirroredStrategy here would reconfigure this
    # process's collectives; the warning comes before it.
    monkeypatch.setattr(strategy_module, "_multiworker_strategy", lambda: "made")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.warns(UserWarning, match="TF_CONFIG is not set.*one worker"):
        get_strategy("multiworker")
    one = {"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(one))
    with pytest.warns(UserWarning, match="names 1 worker"):
        get_strategy("multiworker")


def test_get_strategy(monkeypatch, caplog):
    monkeypatch.delenv("TPU_NAME", raising=False)
    monkeypatch.delenv("COLAB_TPU_ADDR", raising=False)
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with caplog.at_level(logging.INFO, logger="tfzoo.distribute"):
        default = get_strategy("auto")
    assert default is tf.distribute.get_strategy()
    assert "-> default" in caplog.text
    mirrored = get_strategy("mirrored")
    assert mirrored.num_replicas_in_sync == 2  # the two logical CPUs of conftest
    assert get_strategy("mirrored") is mirrored
    assert get_strategy(mirrored) is mirrored
    with pytest.raises(RuntimeError, match="no TPU can be reached"):
        get_strategy("tpu")


def test_closed_form_is_all_reduced_across_replicas():
    X, y = load_diabetes(return_X_y=True)
    X = X * 100 + 7  # away from the origin: the two-pass centring keeps it exact
    ref = LinearRegression().fit(X, y)
    model = build_linear_regression(10)
    strategy = get_strategy("mirrored")
    ds = tf.data.Dataset.from_tensor_slices((X, y)).batch(64)
    solution = fit_normal_equations(model, ds, strategy=strategy)
    assert solution.n_samples == len(X)
    np.testing.assert_allclose(solution.coef[:, 0], ref.coef_, rtol=1e-6)
    np.testing.assert_allclose(solution.intercept[0], ref.intercept_, rtol=1e-6)
    arrays = fit_normal_equations(build_linear_regression(10), X, y, strategy="mirrored")
    np.testing.assert_allclose(arrays.coef, solution.coef, rtol=1e-9)


def test_fit_helper_builds_in_the_strategy_scope():
    from tfzoo.distribute import fit
    from tfzoo.models import build_perceptron

    x = np.random.default_rng(0).normal(size=(30, 4)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    model, history = fit(
        lambda: build_perceptron(4, hidden_units=3),
        x,
        y,
        strategy="mirrored",
        compile_kwargs={"optimizer": "sgd", "loss": "binary_crossentropy"},
        epochs=2,
        batch_size=7,  # uneven over 2 replicas: fine
        verbose=0,
    )
    assert type(model.weights[0].value).__name__ == "MirroredVariable"
    assert len(history.history["loss"]) == 2
    with pytest.raises(TypeError, match="builds the model"):
        fit(build_perceptron(4), x, y)
