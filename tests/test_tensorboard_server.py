"""A recipe's TensorBoard logs, read back through the real TensorBoard server.

``recipes/driver_profile.py --smoke --logdir DIR`` trains an LSTMClassifier
with ``tensorboard_dir=DIR`` (tfzoo's TensorBoard callback: Keras's epoch
scalars plus the model's forward graph, in the ``train`` run). TensorBoard
then serves DIR inside a private network namespace on 127.0.0.1, and a client
in the same namespace (``tests/tensorboard_client.py``) reads its HTTP data
API. The server is stopped by its PID; the namespace is killed on overrun.
"""

import importlib.util
import json
import math
import re
import sys

import pytest

from tests.netns import ROOT, run_in_namespace

RECIPE = ROOT / "recipes" / "driver_profile.py"
CLIENT = ROOT / "tests" / "tensorboard_client.py"


def _run_recipe(argv):
    spec = importlib.util.spec_from_file_location("recipe_driver_profile_tb", RECIPE)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(RECIPE.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(RECIPE.parent))
    return module, module.main(argv)


@pytest.mark.slow
def test_tensorboard_serves_a_recipes_runs_scalars_and_graph(tmp_path):
    logdir = tmp_path / "logs"
    recipe, _ = _run_recipe(["--smoke", "--out", str(tmp_path), "--logdir", str(logdir)])
    epochs = recipe.SMOKE_EPOCHS
    assert list(logdir.rglob("events.out.tfevents.*"))

    served = tmp_path / "served.json"
    # --load_fast=false: TensorBoard's own Python reader, no separate data-server process.
    server = (
        f"timeout -s KILL 90 {sys.executable} -m tensorboard.main --logdir {logdir} "
        "--host 127.0.0.1 --port 6006 --load_fast=false --reload_interval 1"
    )
    client = f"timeout -s KILL 75 {sys.executable} {CLIENT} 6006 {served} 60"
    script = f"{server} & tb=$!; {client}; rc=$?; kill $tb; wait $tb; exit $rc"
    code, log = run_in_namespace(script, timeout=120, env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    assert code == 0 and served.exists(), log[-4000:]
    result = json.loads(served.read_text())

    assert result["runs"] == ["train"]  # no validation split in the recipe's fit
    tags = result["scalar_tags"]["train"]
    assert {"epoch_loss", "epoch_learning_rate"} <= set(tags), tags
    losses = result["scalars"]["train"]["epoch_loss"]
    # one scalar per epoch of the smoke run, steps 0, 1, ...
    assert [step for _, step, _ in losses] == list(range(epochs))
    assert all(math.isfinite(loss) and loss > 0 for _, _, loss in losses)
    rates = result["scalars"]["train"]["epoch_learning_rate"]
    assert len(rates) == epochs and all(0 < rate < 1 for _, _, rate in rates), rates

    info = result["graph_info"]["train"]
    assert info["run_graph"], info  # the forward graph tfzoo's callback writes
    assert info["tags"]["keras"]["conceptual_graph"], info  # Keras's model config
    graph = result["graphs"]["train"]
    assert graph.count("node {") > 10
    # the LSTM's loop (FusedLSTM's loop holds no stateful op, so TensorFlow
    # writes it as StatelessWhile) and the "classes" softmax head
    assert re.search(r'op: "(Stateless)?While"', graph), graph[:2000]
    assert 'op: "Softmax"' in graph, graph[:2000]
    assert "classes" in graph
