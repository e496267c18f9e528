"""tfzoo on Keras's JAX and PyTorch backends, in processes where TensorFlow is not installed.

One child process per backend (``tests/backends_worker.py``) hides TensorFlow
from the import system, imports tfzoo, trains and predicts with every builder
(Mask R-CNN included), loads the ``.keras`` files this (TensorFlow) process saved and
saves its own, runs the seed layers through ``run_layer_test`` and calls the
TensorFlow-only features. This process checks what they saw, and loads their
files on TensorFlow. The two children run at the same time.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests import backends_worker as worker
from tests.netns import ROOT

BACKENDS = ("jax", "torch")
#: Builders whose outputs must agree across backends to this (absolute and relative).
TOL = 1e-5


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("backends")
    reference = {}
    for name in worker.SPECS:
        model = worker.build(name)
        model.save(workdir / f"tensorflow_{name}.keras")
        reference[name] = worker.outputs(model, name)
        if name == "char_rnn":
            sampler = worker.sampler_results(model)
    np.savez(workdir / "tensorflow_outputs.npz", **reference)
    mask_rcnn = worker.build_mask_rcnn()
    mask_rcnn.save(workdir / "tensorflow_mask_rcnn.keras")
    np.savez(workdir / "tensorflow_mask_rcnn_outputs.npz", **worker.mask_rcnn_outputs(mask_rcnn))
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "PYTHONPATH")}
    env.update(PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
    children = {
        backend: subprocess.Popen(
            [sys.executable, "-m", "tests.backends_worker", str(workdir)],
            cwd=ROOT,
            env={**env, "KERAS_BACKEND": backend},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for backend in BACKENDS
    }
    results = {}
    for backend, child in children.items():
        try:
            _, stderr = child.communicate(timeout=400)
        except subprocess.TimeoutExpired:
            child.kill()
            _, stderr = child.communicate()
            pytest.fail(f"the {backend} worker ran past 400 s:\n{stderr[-4000:]}")
        assert child.returncode == 0, f"{backend} worker failed:\n{stderr[-6000:]}"
        with open(workdir / f"{backend}.json") as f:
            results[backend] = json.load(f)
    return {"workdir": workdir, "results": results, "sampler": sampler}


@pytest.mark.parametrize("backend", BACKENDS)
def test_import_tfzoo_without_tensorflow(runs, backend):
    seen = runs["results"][backend]
    assert seen["backend"] == backend
    assert seen["tfzoo_file"] == str(ROOT / "tfzoo" / "__init__.py")
    # TensorFlow really was missing in that process, and nothing tried to use it.
    assert seen["tensorflow_spec"] is False
    assert seen["import_tensorflow"][0] == "ModuleNotFoundError"
    assert seen["tensorflow_after_import"] is False
    assert seen["tensorflow_at_end"] is False


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_builder_trains_and_predicts(runs, backend):
    seen = runs["results"][backend]
    assert sorted(seen["losses"]) == sorted([*worker.SPECS, "mask_rcnn"])
    for name, losses in seen["losses"].items():
        assert np.all(np.isfinite(losses)), (name, losses)
        assert losses[-1] < 0.95 * losses[0], f"{backend} {name}: loss did not fall: {losses}"
    for name, (shape, finite) in seen["predict_shapes"].items():
        expected = worker.outputs(worker.build(name), name).shape
        assert tuple(shape) == expected and finite, (name, shape, expected)


@pytest.mark.parametrize("backend", BACKENDS)
def test_keras_files_saved_on_tensorflow_load_with_the_same_outputs(runs, backend):
    diffs = runs["results"][backend]["tf_file_diffs"]
    reference = np.load(runs["workdir"] / "tensorflow_outputs.npz")
    for name, diff in diffs.items():
        scale = float(np.max(np.abs(reference[name])))
        assert diff != "shape" and diff <= TOL * max(1.0, scale), f"{backend} {name}: {diff}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_mask_rcnn_keras_files_load_across_backends(runs, backend):
    workdir = runs["workdir"]
    # Saved on TensorFlow, loaded there: the same detections, masks and scores.
    diffs = runs["results"][backend]["mask_rcnn_tf_file_diffs"]
    assert sorted(diffs) == sorted(f"mask_rcnn_{key}" for key in worker.MASK_RCNN_KEYS)
    for key, diff in diffs.items():
        assert diff != "shape" and diff <= TOL, f"{backend} {key}: {diff}"
    # Saved there (after training), loaded here.
    expected = np.load(workdir / f"{backend}_mask_rcnn_outputs.npz")
    got = worker.mask_rcnn_outputs(keras.saving.load_model(workdir / f"{backend}_mask_rcnn.keras"))
    for key in expected.files:
        np.testing.assert_allclose(got[key], expected[key], atol=TOL, rtol=TOL, err_msg=key)
    assert expected["mask_rcnn_num_detections"].sum() > 0  # detections to compare, not padding


@pytest.mark.parametrize("backend", BACKENDS)
def test_keras_files_saved_on_other_backends_load_on_tensorflow(runs, backend):
    workdir = runs["workdir"]
    expected = np.load(workdir / f"{backend}_outputs.npz")
    for name in worker.SPECS:
        loaded = keras.saving.load_model(workdir / f"{backend}_{name}.keras")
        np.testing.assert_allclose(
            worker.outputs(loaded, name), expected[name], atol=TOL, rtol=TOL, err_msg=name
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_char_sampler_agrees_with_tensorflow(runs, backend):
    on_tf = runs["sampler"]
    seen = runs["results"][backend]["sampler_on_tf_file"]
    np.testing.assert_allclose(seen["log_likelihood"], on_tf["log_likelihood"], atol=TOL)
    assert len(seen["log_likelihood"]) == len(worker.SAMPLER_IDS) - 1
    for key in ("stateful", "window", "window_long", "stateful_long"):
        assert seen[key] == on_tf[key], key
    # A window longer than the text is the stateful path.
    assert seen["window_long"] == seen["stateful_long"]
    assert seen["sampled"] == 5


@pytest.mark.parametrize("backend", BACKENDS)
def test_single_device_strategy(runs, backend):
    seen = runs["results"][backend]
    assert seen["strategy"] == {
        "auto": f"DefaultStrategy(backend={backend!r})",
        "is_default": True,
        "replicas": 1,
        "passed_through": True,
        "none_is_auto": True,
        # Keras's torch trainer refuses more than one step per call
        "steps_per_execution": 1 if backend == "torch" else 4,
        "fixes_installed": False,
    }
    assert len(seen["distribute_fit_losses"]) == 2
    assert np.all(np.isfinite(seen["distribute_fit_losses"]))
    # Closed form against NumPy's least squares, with and without a strategy name.
    assert seen["normal_equations_None"] < 1e-9
    assert seen["normal_equations_auto"] < 1e-9
    # The weights hold it (in float32 on JAX without jax_enable_x64).
    assert seen["normal_equations_predict_None"] < 1e-5
    assert seen["normal_equations_predict_auto"] < 1e-5


@pytest.mark.parametrize("backend", BACKENDS)
def test_strategy_names_off_tensorflow(runs, backend):
    seen = runs["results"][backend]["strategy_names"]
    if backend == "torch":
        kind, message = seen["get_distribution('auto')"]
        assert kind == "RuntimeError" and "needs Keras's JAX backend" in message, message
        assert "runs Keras on the 'torch' backend" in message, message
        return
    # On JAX the names resolve to keras.distribution: one CPU device here, so the
    # one-device default (tests/distribute/test_jax_distribution.py runs 4 devices).
    assert seen["get_strategy('mirrored')"] == "DefaultStrategy(backend='jax')"
    assert seen["get_distribution('auto')"] == "None"
    kind, message = seen["get_strategy('tpu')"]
    assert kind == "RuntimeError" and "JAX sees no TPU" in message, message
    # (no cluster described here: tests/distribute/test_jax_multiworker.py runs one)
    kind, message = seen["get_strategy('multiworker')"]
    assert kind == "RuntimeError" and "needs the cluster of processes" in message, message


@pytest.mark.parametrize("backend", BACKENDS)
def test_layers_pass_the_layer_test(runs, backend):
    failures = {k: v for k, v in runs["results"][backend]["layer_tests"].items() if v}
    assert not failures
    assert len(runs["results"][backend]["layer_tests"]) == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_tensorflow_only_features_say_which_backend_they_need(runs, backend):
    errors = runs["results"][backend]["tf_only"]
    # Not a strategy at all: the same ValueError as on TensorFlow.
    kind, message = errors.pop("get_strategy(<unknown object>)")
    assert kind == "ValueError" and "strategy must be one of" in message, message
    for feature, error in errors.items():
        assert error is not None, f"{feature} did not raise on {backend}"
        kind, message = error
        assert kind == "TensorFlowBackendRequired", (feature, error)
        assert "needs Keras's TensorFlow backend" in message, (feature, message)
        assert f"runs Keras on the {backend!r} backend" in message, (feature, message)
        assert "KERAS_BACKEND=tensorflow" in message, (feature, message)
