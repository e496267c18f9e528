"""Kill a worker mid-training: the survivor fails fast, a restarted cluster resumes.

Both phases run inside private network namespaces made by the test
(``unshare -rn``), bounded in time, every process group killed by PID.
"""

import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.distribute import ft_worker
from tests.netns import namespaces_available as _namespaces_available
from tests.netns import run_in_namespace
from tfzoo.distribute import BackupAndRestore, task_name

HERE = Path(__file__).resolve().parent


def test_each_task_gets_its_own_backup_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {}, "task": {"type": "worker", "index": 1}}')
    assert task_name() == "worker-1"
    assert BackupAndRestore(tmp_path).backup_dir == str(tmp_path / "worker-1")
    monkeypatch.delenv("TF_CONFIG")
    assert BackupAndRestore(tmp_path).backup_dir == str(tmp_path / "single")


@pytest.mark.slow
def test_kill_a_worker_then_restart_the_cluster(tmp_path):
    if not _namespaces_available():
        pytest.fail("this test needs unshare -rn and ip (util-linux, iproute2)")
    worker = HERE / "ft_worker.py"
    backup = tmp_path / "backup"
    first = [str(tmp_path / f"run1-w{i}") for i in range(2)]
    # Phase 1: kill worker 1 (SIGKILL) once it has finished epoch 3.
    script = (
        f"{sys.executable} {worker} 23466 23467 0 {backup} {first[0]} & p0=$!; "
        f"{sys.executable} {worker} 23466 23467 1 {backup} {first[1]} & p1=$!; "
        f"i=0; while [ ! -e {first[1]}.epoch3 ] && [ $i -lt 1200 ]; "
        "do sleep 0.1; i=$((i+1)); done; "
        "kill -9 $p1; killed=$(date +%s); wait $p0; r0=$?; "
        'echo "SURVIVOR_EXIT=$r0 AFTER=$(( $(date +%s) - killed ))"'
    )
    start = time.monotonic()
    _, log = run_in_namespace(script, timeout=240)
    assert "SURVIVOR_EXIT=" in log, log[-4000:]
    status = log.split("SURVIVOR_EXIT=")[1].split()
    survivor_exit, after = int(status[0]), int(status[1].split("=")[1])
    assert Path(first[1] + ".epoch3").exists() and not Path(first[1] + ".npz").exists()
    assert survivor_exit != 0, "the surviving worker finished as if nothing happened"
    assert after < 90, f"the survivor took {after} s to fail"
    assert "Unavailable" in log or "unhealthy" in log or "Error" in log, log[-3000:]
    assert not Path(first[0] + ".npz").exists()
    assert (backup / "worker-0").is_dir() and (backup / "worker-1").is_dir()

    # Phase 2: restart the whole cluster with the same backup folder.
    second = [str(tmp_path / f"run2-w{i}") for i in range(2)]
    script = (
        f"{sys.executable} {worker} 23466 23467 0 {backup} {second[0]} & p0=$!; "
        f"{sys.executable} {worker} 23466 23467 1 {backup} {second[1]} & p1=$!; "
        "wait $p0; r0=$?; wait $p1; r1=$?; exit $((r0 | r1))"
    )
    code, log = run_in_namespace(script, timeout=240)
    assert code == 0, log[-4000:]
    resumed = [int(Path(p + ".start").read_text()) for p in second]
    assert resumed[0] == resumed[1] >= 3, resumed
    assert not Path(second[0] + f".epoch{resumed[0]}").exists()  # finished epochs not redone
    w0, w1 = (np.load(p + ".npz") for p in second)
    reference = ft_worker.train(tf.distribute.get_strategy())
    for i, expected in enumerate(reference):
        np.testing.assert_array_equal(w0[f"arr_{i}"], w1[f"arr_{i}"])
        np.testing.assert_allclose(w0[f"arr_{i}"], expected, atol=1e-5)
    assert time.monotonic() - start < 480
