"""1 parameter server + 2 workers + the chief on 127.0.0.1, in a private namespace."""

import json
import sys

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
        f"{sys.executable} {chief} 23483 23481 23482 23480 {out}; r=$?; "
        "kill -9 $s0 $s1 $s2; wait; exit $r"
    )
    code, log = run_in_namespace(script, timeout=240)
    assert code == 0 and out.exists(), log[-4000:]
    result = json.loads(out.read_text())
    assert result["steps"] == [20, 40, 60, 80]  # every scheduled step counted
    assert result["loss"][-1] < result["loss"][0]
    assert result["devices"] and all("/job:ps" in d for d in result["devices"]), result["devices"]
