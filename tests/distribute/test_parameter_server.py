"""1 parameter server + 2 workers + the chief on 127.0.0.1, in a private namespace."""

import json
import sys

import numpy as np
import pytest

from tests.netns import ROOT, run_in_namespace
from tests.netns import namespaces_available as _namespaces_available


def _task(kind, index):
    cluster = {
        "chief": ["127.0.0.1:23480"],
        "worker": ["127.0.0.1:23481", "127.0.0.1:23482"],
        "ps": ["127.0.0.1:23483"],
    }
    return json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}})


@pytest.mark.slow
def test_parameter_server_training(tmp_path):
    if not _namespaces_available():
        pytest.fail("this test needs unshare -rn and ip (util-linux, iproute2)")
    out = tmp_path / "chief.json"
    serve = f"{sys.executable} -m tfzoo.distribute.parameter_server"
    chief = ROOT / "tests" / "distribute" / "ps_chief.py"
    script = (
        f"TF_CONFIG='{_task('ps', 0)}' {serve} & s0=$!; "
        f"TF_CONFIG='{_task('worker', 0)}' {serve} & s1=$!; "
        f"TF_CONFIG='{_task('worker', 1)}' {serve} & s2=$!; "
        f"{sys.executable} {chief} 23483 23481 23482 23480 {out} {tmp_path / 'ckpt'} & c=$!; "
        f"i=0; while [ ! -e {out}.kill1 ] && kill -0 $c 2>/dev/null && [ $i -lt 2400 ]; "
        "do sleep 0.1; i=$((i+1)); done; "
        f"kill -9 $s2; touch {out}.killed1; "
        f"i=0; while [ ! -e {out}.ready ] && kill -0 $c 2>/dev/null && [ $i -lt 2400 ]; "
        "do sleep 0.1; i=$((i+1)); done; "
        f"kill -9 $s1; touch {out}.killed; "
        "wait $c; r=$?; kill -9 $s0; wait; exit $r"
    )
    code, log = run_in_namespace(script, timeout=300)
    assert code == 0 and out.exists(), log[-4000:]
    result = json.loads(out.read_text())
    first, resumed = result["first"], result["resumed"]
    assert first["epoch"] == [1, 2] and first["steps"] == [20, 40]
    # the second call resumed from the checkpoint after epoch 2
    assert resumed["epoch"] == [3, 4] and resumed["steps"] == [60, 80]
    assert resumed["loss"][-1] < first["loss"][0]
    assert result["devices"] and all("/job:ps" in d for d in result["devices"]), result["devices"]
    # the kernel penalty is part of the loss, as in Keras's own fit/evaluate
    np.testing.assert_allclose(result["penalised"], result["keras_loss"], rtol=1e-5)
    assert result["penalised"] > result["unpenalised"] + 0.1
    # worker 1 killed during a training: worker 0 runs its steps, each counted once
    survived = result["survived"]
    assert survived["epoch"] == [1, 2, 3] and survived["steps"] == [100, 200, 300], survived
    assert result["killed_during"], "worker 1 was not killed during the training"
    assert np.all(np.isfinite(survived["loss"]))
    # with the workers gone, fit_ps gives up after epoch_timeout with a clear error
    assert "epoch_timeout=5" in (result["timeout_error"] or ""), result
    assert "workers" in result["timeout_error"]
    assert result["timeout_seconds"] < 60


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epoch_timeout": 0}, "epoch_timeout must be None or a positive number, got 0"),
        ({"max_to_keep": 0}, "max_to_keep must be an integer >= 1, got 0"),
    ],
)
def test_fit_ps_checks_its_arguments(kwargs, message):
    from tfzoo.distribute import fit_ps

    with pytest.raises(ValueError, match=message):
        fit_ps(None, None, None, epochs=1, steps_per_epoch=1, optimizer="sgd", loss="mse", **kwargs)
