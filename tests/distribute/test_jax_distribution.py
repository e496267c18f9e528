"""``strategy=`` on Keras's JAX backend: ``keras.distribution.DataParallel`` over 4 host devices.

One child process (``tests/distribute/jax_distribution_worker.py``) runs
every case with ``KERAS_BACKEND=jax``, ``JAX_PLATFORMS=cpu`` and
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` set before JAX starts,
so JAX's start-up is paid once; this process (the TensorFlow pass; the file
is deselected on the others, being under ``tests/distribute/``) checks what
it saw against one-device runs in the same child and scikit-learn.
"""

import keras
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from tests.distribute import jax_child
from tests.distribute import jax_distribution_worker as worker

TIMEOUT_S = 240
TOL = 1e-5


@pytest.fixture(scope="module")
def child(tmp_path_factory):
    out = tmp_path_factory.mktemp("jax_distribution")
    return jax_child.run("tests.distribute.jax_distribution_worker", out, worker.DEVICES, TIMEOUT_S)


def test_auto_resolves_to_data_parallel_over_the_host_devices(child):
    seen, _ = child
    assert seen["backend"] == "jax"
    assert seen["devices"] == [f"cpu:{i}" for i in range(worker.DEVICES)]
    assert seen["resolution"] == {
        "auto": "DataParallel",
        "auto_devices": seen["devices"],
        "auto_again_same": True,  # one distribution per device set and process
        "mirrored_same": True,
        "default": "None",  # Keras's one-device default: no distribution
        "strategy": "KerasDistributionStrategy",
        "strategy_distribution_same": True,
        "strategy_again_same": True,
        "passed_through": True,
        "distribution_wrapped": True,
        "replicas": worker.DEVICES,
        "default_strategy": "DefaultStrategy(backend='jax')",
        "resolve_auto": ["mirrored", "Keras runs on 'jax', which sees 4 cpu devices"],
        "scope_sets": True,
        "scope_restores": True,
    }
    # It logs what it chose and why.
    assert (
        "strategy='auto' -> keras.distribution.DataParallel over 4 cpu devices "
        "(Keras runs on 'jax', which sees 4 cpu devices)"
    ) in seen["log"]
    assert (
        "strategy='default' -> default (asked for 'default'; one device, no distribution)"
        in (seen["log"])
    )


def test_names_jax_does_not_have_say_so(child):
    errors = child[0]["errors"]
    for call in ("get_strategy('ps')", "get_distribution('ps')"):
        kind, message = errors[call]
        assert kind == "TensorFlowBackendRequired", (call, message)
        assert (
            "ParameterServerStrategy" in message and "needs Keras's TensorFlow backend" in message
        )
        assert "runs Keras on the 'jax' backend" in message
    # (no cluster described here: test_jax_multiworker.py runs one)
    kind, message = errors["get_strategy('multiworker')"]
    assert kind == "RuntimeError"
    assert "strategy='multiworker' on Keras's JAX backend needs the cluster" in message
    assert "KERAS_DISTRIBUTION_PROCESS_ID" in message
    kind, message = errors["get_distribution('tpu')"]
    assert kind == "RuntimeError" and "strategy='tpu' but JAX sees no TPU" in message
    kind, message = errors["get_distribution('gpus')"]
    assert kind == "ValueError" and "strategy must be one of" in message and "'gpus'" in message


@pytest.mark.parametrize("case", ["perceptron", "cnn", "uneven"])
def test_estimator_trains_under_data_parallel_as_on_one_device(child, case):
    seen, arrays = child
    auto, default = seen[f"{case}_auto"], seen[f"{case}_default"]
    # fit ran under DataParallel over the 4 devices, its variables laid out over them
    assert auto["seen_in_fit"] == [["DataParallel", worker.DEVICES]]
    assert all(s.endswith(f"over {worker.DEVICES} devices") for s in auto["shardings"])
    assert any(s.startswith("P(None, None") for s in auto["shardings"])  # replicated kernels
    # and the one-device run had no distribution
    assert default["seen_in_fit"] == [None]
    assert default["shardings"] == ["single device over 1 devices"]
    assert auto["n_weights"] == default["n_weights"] >= 4
    for i in range(auto["n_weights"]):
        got, want = arrays[f"{case}_auto_w{i}"], arrays[f"{case}_default_w{i}"]
        np.testing.assert_allclose(got, want, atol=TOL, rtol=TOL, err_msg=f"weight {i}")
    x, y, _ = worker.data(case)
    np.testing.assert_allclose(
        arrays[f"{case}_auto_proba"], arrays[f"{case}_default_proba"], atol=TOL
    )
    np.testing.assert_array_equal(arrays[f"{case}_auto_predict"], arrays[f"{case}_default_predict"])
    assert np.mean(arrays[f"{case}_auto_predict"] == y) > 0.6
    if case == "uneven":
        # Each padded batch's loss is the unpadded one's, but Keras weights it in the
        # epoch's reported mean by its padded size (32 or 8 rows instead of 30 or 6).
        np.testing.assert_allclose(auto["loss_curve"], default["loss_curve"], rtol=2e-2)
    else:
        np.testing.assert_allclose(auto["loss_curve"], default["loss_curve"], rtol=TOL)


def test_distribute_fit_trains_under_data_parallel(child):
    assert child[0]["distribute_fit"] == {
        "seen_in_fit": [["DataParallel", worker.DEVICES]],
        "kernel_devices": worker.DEVICES,
    }


def test_normal_equations_over_four_devices_equal_scikit_learn(child):
    seen, arrays = child
    x, y, _ = worker.data("normal")
    reference = LinearRegression().fit(x, y)
    ne = seen["normal_equations"]
    # the sums were made on the 4 devices (arrays, batches, and the refused one-shot iterator)
    assert ne["devices_used"] == [worker.DEVICES] * 3
    assert ne["n_samples"] == [len(x), len(x)]
    for prefix in ("normal", "normal_batches"):
        np.testing.assert_allclose(arrays[f"{prefix}_coef"][:, 0], reference.coef_, rtol=1e-6)
        np.testing.assert_allclose(
            arrays[f"{prefix}_intercept"][0], reference.intercept_, rtol=1e-6, atol=1e-6
        )
    np.testing.assert_allclose(
        arrays["normal_model_predict"][:, 0], reference.predict(x), rtol=1e-6, atol=1e-6
    )
    assert ne["estimator_kernel_devices"] == worker.DEVICES
    np.testing.assert_allclose(
        arrays["normal_estimator_predict"], reference.predict(x), rtol=1e-6, atol=1e-6
    )
    kind, message = ne["one_shot_iterator"]
    assert kind == "ValueError" and "must be re-iterable" in message


def test_get_distribution_names_the_backend_it_needs():
    import tfzoo.distribute as td

    assert keras.backend.backend() == "tensorflow"
    with pytest.raises(RuntimeError, match="needs Keras's JAX backend") as info:
        td.get_distribution("auto")
    assert "runs Keras on the 'tensorflow' backend" in str(info.value)
    assert "get_strategy" in str(info.value)
