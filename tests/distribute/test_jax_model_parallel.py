"""``ModelParallel`` on Keras's JAX backend with tfzoo's layouts, over 2x2 host devices.

One child process (``tests/distribute/jax_model_parallel_worker.py``) runs
every case with ``KERAS_BACKEND=jax``, ``JAX_PLATFORMS=cpu`` and
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` set before JAX starts
(a ``("batch", "model")`` mesh of 2x2); this process (the TensorFlow pass;
the file is deselected on the others, being under ``tests/distribute/``)
checks what it saw: where each variable's shards are, and that the sharded
model's outputs and weights after a training step are the unsharded model's
(built from the same weights in the same child, on one device).
"""

import keras
import numpy as np
import pytest

from tests.distribute import jax_child
from tests.distribute import jax_model_parallel_worker as worker

TIMEOUT_S = 240
TOL = 1e-5
REPLICATED = {"spec": None, "devices": worker.DEVICES}


@pytest.fixture(scope="module")
def child(tmp_path_factory):
    out = tmp_path_factory.mktemp("jax_model_parallel")
    # XLA's CPU code generation at its cheapest: the child compiles a dozen
    # programs and runs each a few times (40 s -> 31 s of CPU, measured here);
    # the SPMD partitioning, which is what is checked, is the same
    return jax_child.run(
        "tests.distribute.jax_model_parallel_worker",
        out,
        worker.DEVICES,
        TIMEOUT_S,
        "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true",
    )


def _split(spec, shape, shard_shape):
    """What the child must have seen for a variable split by ``spec`` over the 2x2 mesh."""
    return {
        "spec": list(spec),
        "shape": list(shape),
        "shard_shapes": [list(shard_shape)],
        "devices": worker.DEVICES,
    }


def _replicated(shape):
    return {
        "spec": [None] * len(shape),
        "shape": list(shape),
        "shard_shapes": [list(shape)],
        "devices": worker.DEVICES,
    }


#: Each builder case's variables as the child must see them on the 2x2 mesh.
EXPECTED = {
    "small_cnn": {
        "conv1/conv/kernel": _replicated((5, 5, 1, 16)),
        "conv1/conv/bias": _replicated((16,)),
        "conv2/conv/kernel": _replicated((5, 5, 16, 8)),
        "conv2/conv/bias": _replicated((8,)),
        "conv3/conv/kernel": _replicated((4, 4, 8, 12)),
        "conv3/conv/bias": _replicated((12,)),
        # the seed's 588x200 layer: its columns split over "model", then the output's rows
        "fc/kernel": _split((None, "model"), (588, 200), (588, 100)),
        "fc/bias": _split(("model",), (200,), (100,)),
        "output/kernel": _split(("model", None), (200, 10), (100, 10)),
        "output/bias": _replicated((10,)),
    },
    "lstm_classifier": {
        # the 4 gates' 32 columns of each kernel and of the bias
        "encoder/lstm_0/lstm_cell/kernel": _split((None, "model"), (3, 32), (3, 16)),
        "encoder/lstm_0/lstm_cell/recurrent_kernel": _split((None, "model"), (8, 32), (8, 16)),
        "encoder/lstm_0/lstm_cell/bias": _split(("model",), (32,), (16,)),
        "classes/kernel": _replicated((8, 2)),
        "classes/bias": _replicated((2,)),
    },
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_model_parallel_splits_the_builders_variables(child, case):
    seen, _ = child
    assert seen["backend"] == "jax" and seen["devices"] == worker.DEVICES
    got = seen[case]
    assert got["mesh"] == [list(worker.MESH), ["batch", "model"]]
    assert got["distribution"] == ["ModelParallel", True]  # a keras.distribution.ModelParallel
    assert got["weights"] == EXPECTED[case]
    # the unsharded reference lived on one device
    assert got["reference_devices"] == [1]
    # the optimizer's slots follow their variables (Adam's two for the CNN, none for SGD)
    split = {path for path, want in EXPECTED[case].items() if "model" in want["spec"]}
    slots = {
        path: info
        for path, info in got["optimizer"].items()
        if info["spec"] is not None and "model" in info["spec"]
    }
    if case == "small_cnn":
        assert len(slots) == 2 * len(split)
        for path in split:
            suffix = path.replace("/", "_")
            mine = [info for name, info in slots.items() if name.endswith(suffix + "_momentum")]
            assert [info["shard_shapes"] for info in mine] == [EXPECTED[case][path]["shard_shapes"]]
    else:
        assert slots == {}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_model_parallel_computes_what_the_unsharded_model_does(child, case):
    seen, arrays = child
    np.testing.assert_allclose(
        arrays[f"{case}_sharded_out"], arrays[f"{case}_reference_out"], atol=TOL, rtol=TOL
    )
    sharded_loss, reference_loss = seen[case]["losses"]
    assert sharded_loss == pytest.approx(reference_loss, rel=TOL)
    n = seen[case]["n_weights"]
    assert n == len(EXPECTED[case])
    moved = []
    for i in range(n):
        got, want = arrays[f"{case}_sharded_w{i}"], arrays[f"{case}_reference_w{i}"]
        np.testing.assert_allclose(got, want, atol=TOL, rtol=TOL, err_msg=f"weight {i}")
        moved.append(float(np.abs(want - arrays[f"{case}_initial_w{i}"]).max()))
    # the step moved every weight: the comparison is of trained weights, not of the copies
    assert min(moved) > 100 * TOL, moved


def test_an_estimator_trains_model_parallel_as_on_one_device(child):
    seen, arrays = child
    sharded, reference = seen["estimator_sharded"], seen["estimator_reference"]
    assert seen["estimator_strategy"].startswith("KerasDistributionStrategy(")
    assert "2 replicas" in seen["estimator_strategy"]  # the mesh's batch axis
    # fit ran under the ModelParallel, the perceptron's hidden layer split over "model"
    assert sharded["seen_in_fit"] == [["ModelParallel", list(worker.MESH)]]
    assert reference["seen_in_fit"] == [None]
    assert sharded["weights"]["perceptron/W1"] == _split((None, "model"), (5, 4), (5, 2))
    assert sharded["weights"]["perceptron/b1"] == _split(("model",), (4,), (2,))
    assert sharded["weights"]["perceptron/W2"] == _split(("model", None), (4, 1), (2, 1))
    assert sharded["weights"]["perceptron/b2"] == _replicated((1,))
    assert {w["devices"] for w in reference["weights"].values()} == {1}
    for i in range(len(sharded["weights"])):
        np.testing.assert_allclose(
            arrays[f"estimator_sharded_w{i}"],
            arrays[f"estimator_reference_w{i}"],
            atol=TOL,
            rtol=TOL,
            err_msg=f"weight {i}",
        )
    np.testing.assert_allclose(sharded["loss_curve"], reference["loss_curve"], rtol=TOL)
    np.testing.assert_allclose(
        arrays["estimator_sharded_proba"], arrays["estimator_reference_proba"], atol=TOL
    )


def test_text_generator_trains_in_the_distributions_scope_as_on_one_device(child):
    seen, arrays = child
    sharded, reference = seen["text_sharded"], seen["text_reference"]
    # fit ran under the ModelParallel (batches of 3 windows padded to 4 for its batch axis)
    assert sharded["seen_in_fit"] == [["ModelParallel", list(worker.MESH)]]
    assert reference["seen_in_fit"] == [None]
    weights = sharded["weights"]
    vocab = weights["embedding/embeddings"]["shape"][0]
    assert weights["embedding/embeddings"] == _split((None, "model"), (vocab, 4), (vocab, 2))
    assert weights["encoder/lstm_0/lstm_cell/kernel"] == _split((None, "model"), (4, 16), (4, 8))
    assert weights["encoder/lstm_0/lstm_cell/bias"] == _split(("model",), (16,), (8,))
    assert weights["logits/kernel"] == _split(("model", None), (4, vocab), (2, vocab))
    assert weights["logits/bias"] == _replicated((vocab,))
    assert {w["devices"] for w in reference["weights"].values()} == {1}
    np.testing.assert_allclose(sharded["loss"], reference["loss"], rtol=TOL)
    np.testing.assert_allclose(sharded["val_loss"], reference["val_loss"], rtol=TOL)
    assert len(sharded["val_loss"]) == 2
    for i in range(len(weights)):
        np.testing.assert_allclose(
            arrays[f"text_sharded_w{i}"],
            arrays[f"text_reference_w{i}"],
            atol=TOL,
            rtol=TOL,
            err_msg=f"weight {i}",
        )


def test_make_tuner_trials_fit_in_the_distributions_scope(child):
    tuner = child[0]["tuner"]
    assert tuner["strategy"].startswith("KerasDistributionStrategy(DataParallel, 4 replicas")
    # both epochs of the trial ran under DataParallel, the model's variables on the 4 devices
    assert tuner["seen_in_fit"] == [["DataParallel", worker.DEVICES]] * 2
    assert tuner["best_devices"] == [worker.DEVICES]
    assert tuner["after"]  # and the search left no distribution behind


def test_layout_map_and_its_errors(child):
    seen, _ = child
    layouts = seen["layout_map"]
    # a built model: its own paths; a name or a builder: the family's patterns
    assert layouts["built"] == {
        "fc/kernel": [None, "model"],
        "fc/bias": ["model"],
        "output/kernel": ["model", None],
    }
    assert layouts["by_name"] == ["(?:.*/)?fc/bias", "(?:.*/)?fc/kernel", "(?:.*/)?output/kernel"]
    assert layouts["by_builder_fc"] == [None, "model"]
    assert layouts["default_mesh"] == [2, 2]
    errors = seen["errors"]
    for key in ("mesh_shape", "mesh_rank"):
        kind, message = errors[key]
        assert kind == "ValueError" and "whose product is the number of devices, 4" in message
    assert "got (3, 2)" in errors["mesh_shape"][1] and "got (4,)" in errors["mesh_rank"][1]
    kind, message = errors["unknown"]
    assert kind == "ValueError" and "no tfzoo layout for 'mask_rcnn'" in message
    assert "'small_cnn'" in message and "'char_rnn'" in message
    kind, message = errors["type"]
    assert kind == "TypeError" and "got int: 42" in message
    kind, message = errors["no_model_axis"]
    assert kind == "ValueError" and "no 'model' axis" in message and "('batch',)" in message
    # a split dimension that does not divide: named as the variable is created, or at once
    for key in ("indivisible_at_creation", "indivisible_built"):
        kind, message = errors[key]
        assert kind == "ValueError", (key, message)
        assert "'perceptron/W1' of shape (5, 3): dimension 1 (3) does not split evenly" in message
        assert "2 devices of the mesh's 'model' axis" in message
    kind, message = errors["nothing_to_split"]
    assert kind == "ValueError" and "no variable of model 'linear_regression'" in message
    assert (
        "tfzoo layouts for small_cnn -> keras.distribution.ModelParallel over 4 cpu devices, "
        "mesh 2x2 (batch x model): 3 variable patterns split over 'model'"
    ) in seen["log"]


def test_get_model_parallel_names_the_backend_it_needs():
    import tfzoo.distribute as td

    assert keras.backend.backend() == "tensorflow"
    with pytest.raises(RuntimeError, match="needs Keras's JAX backend") as info:
        td.get_model_parallel("small_cnn")
    assert "runs Keras on the 'tensorflow' backend" in str(info.value)
