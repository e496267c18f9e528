"""Kill a worker mid-training: the survivor fails fast, a restarted cluster resumes.

Both phases run inside private network namespaces made by the test
(``unshare -rn``), bounded in time, every process group killed by PID.
"""

import json
import sys
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.distribute import ft_worker
from tests.netns import namespaces_available as _namespaces_available
from tests.netns import run_in_namespace, two_workers
from tfzoo.distribute import BackupAndRestore, task_name

HERE = Path(__file__).resolve().parent
CLUSTER = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}


class _Crash(Exception):
    pass


class _CrashAfter(keras.callbacks.Callback):
    """Stand-in for a killed process: raise at the end of epoch ``n`` (after the backup).

    ``n=0``: raise once training has begun (after the restore).
    """

    def __init__(self, n):
        super().__init__()
        self.n = n

    def on_train_begin(self, logs=None):
        if self.n == 0:
            raise _Crash("killed after the restore")

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.n:
            raise _Crash(f"killed after epoch {self.n}")


class _Start(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.epoch = self.model._initial_epoch or 0


def _as_task(monkeypatch, index):
    config = {"cluster": CLUSTER, "task": {"type": "worker", "index": index}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))


def _run(root, crash_after=None):
    """ft_worker's training with a backup in ``root``; the epoch it started from and weights."""
    start = _Start()
    callbacks = [BackupAndRestore(root), start]
    if crash_after is not None:
        with pytest.raises(_Crash):
            ft_worker.train(tf.distribute.get_strategy(), callbacks + [_CrashAfter(crash_after)])
        return start.epoch, None
    weights = ft_worker.train(tf.distribute.get_strategy(), callbacks)
    return start.epoch, weights


def _assert_weights(weights, expected):
    for w, e in zip(weights, expected, strict=True):
        np.testing.assert_allclose(w, e, atol=1e-5)


def test_each_task_gets_its_own_backup_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {}, "task": {"type": "worker", "index": 1}}')
    assert task_name() == "worker-1"
    assert BackupAndRestore(tmp_path).backup_dir == str(tmp_path / "worker-1")
    monkeypatch.delenv("TF_CONFIG")
    assert BackupAndRestore(tmp_path).backup_dir == str(tmp_path / "single")


def test_tasks_resume_at_the_newest_epoch_all_of_them_saved(tmp_path, monkeypatch):
    reference = ft_worker.train(tf.distribute.get_strategy())
    _as_task(monkeypatch, 0)
    _run(tmp_path, crash_after=3)  # worker 0 saved epochs 1-3
    _as_task(monkeypatch, 1)
    _run(tmp_path, crash_after=2)  # worker 1 died before saving epoch 3
    # Restart the cluster: both restore epoch 2 (worker 0 not its own epoch 3).
    # One process plays both tasks here, so worker 1 only restores: a worker
    # cannot run ahead of its peers in a real (synchronous) cluster.
    assert _run(tmp_path, crash_after=0)[0] == 2
    _as_task(monkeypatch, 0)
    start, weights = _run(tmp_path)
    assert start == 2
    _assert_weights(weights, reference)


def test_a_finished_task_keeps_its_backups_until_every_task_is_done(tmp_path, monkeypatch):
    reference = ft_worker.train(tf.distribute.get_strategy())
    last = ft_worker.EPOCHS
    _as_task(monkeypatch, 1)
    _run(tmp_path, crash_after=last)  # worker 1 died after the last epoch's backup
    _as_task(monkeypatch, 0)
    _run(tmp_path)  # worker 0 finished
    assert (tmp_path / "worker-0" / f"epoch-{last}.json").exists()
    _as_task(monkeypatch, 1)
    start, weights = _run(tmp_path)  # restarted: nothing left to train
    assert start == last
    _assert_weights(weights, reference)
    assert not (tmp_path / "worker-1" / f"epoch-{last}.json").exists()  # all done: deleted
    start, _ = _run(tmp_path)  # a new run after a finished one starts afresh
    assert start == 0


def test_a_truncated_backup_is_skipped_for_an_older_complete_one(tmp_path):
    reference = ft_worker.train(tf.distribute.get_strategy())
    _run(tmp_path, crash_after=3)
    weights_file = tmp_path / "single" / "epoch-3.weights.h5"
    weights_file.write_bytes(weights_file.read_bytes()[:100])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        start, weights = _run(tmp_path)
    messages = [str(w.message) for w in seen if w.category is RuntimeWarning]
    assert any("backup of epoch 3" in m and "truncated" in m for m in messages), messages
    assert start == 2
    _assert_weights(weights, reference)


def test_weights_saved_without_their_record_do_not_count(tmp_path):
    # A crash after the weights file was written but before its record: the
    # epoch is not counted (its weights and epoch number are never mixed).
    reference = ft_worker.train(tf.distribute.get_strategy())
    _run(tmp_path, crash_after=3)
    (tmp_path / "single" / "epoch-3.json").unlink()
    start, weights = _run(tmp_path)
    assert start == 2
    _assert_weights(weights, reference)


def test_backup_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="save_freq must be 'epoch'.*got 10"):
        BackupAndRestore(tmp_path, save_freq=10)
    with pytest.raises(ValueError, match="keep must be an integer >= 1, got 0"):
        BackupAndRestore(tmp_path, keep=0)


@pytest.mark.slow
def test_kill_workers_at_different_epochs_then_restart_the_cluster(tmp_path):
    if not _namespaces_available():
        pytest.fail("this test needs unshare -rn and ip (util-linux, iproute2)")
    worker = HERE / "ft_worker.py"
    backup = tmp_path / "backup"
    first = [str(tmp_path / f"run1-w{i}") for i in range(2)]
    # Phase 1: worker 1 is SIGKILLed at the end of epoch 3 before its backup;
    # worker 0 has backed up epoch 3 when it finds its peer gone.
    script = (
        f"{sys.executable} {worker} 23466 23467 0 {backup} {first[0]} & p0=$!; "
        f"FT_DIE_AT=3 {sys.executable} {worker} 23466 23467 1 {backup} {first[1]} & p1=$!; "
        "wait $p1; killed=$(date +%s); wait $p0; r0=$?; "
        'echo "SURVIVOR_EXIT=$r0 AFTER=$(( $(date +%s) - killed ))"'
    )
    start = time.monotonic()
    _, log = run_in_namespace(script, timeout=240)
    assert "SURVIVOR_EXIT=" in log, log[-4000:]
    status = log.split("SURVIVOR_EXIT=")[1].split()
    survivor_exit, after = int(status[0]), int(status[1].split("=")[1])
    assert Path(first[1] + ".epoch2").exists() and not Path(first[1] + ".epoch3").exists()
    assert survivor_exit != 0, "the surviving worker finished as if nothing happened"
    assert after < 90, f"the survivor took {after} s to fail"
    assert "Unavailable" in log or "unhealthy" in log or "Error" in log, log[-3000:]
    assert not Path(first[0] + ".npz").exists()
    assert (backup / "worker-0" / "epoch-3.json").exists()  # the tasks saved different epochs
    assert not (backup / "worker-1" / "epoch-3.json").exists()
    assert (backup / "worker-1" / "epoch-2.json").exists()

    # Phase 2: restart the whole cluster with the same backup folder.
    second = [str(tmp_path / f"run2-w{i}") for i in range(2)]
    script = two_workers(
        worker, f"23466 23467 0 {backup} {second[0]}", f"23466 23467 1 {backup} {second[1]}"
    )
    code, log = run_in_namespace(script, timeout=240)
    assert code == 0, log[-4000:]
    resumed = [int(Path(p + ".start").read_text()) for p in second]
    assert resumed == [2, 2], resumed  # the newest epoch both tasks saved
    assert not Path(second[0] + f".epoch{resumed[0]}").exists()  # finished epochs not redone
    w0, w1 = (np.load(p + ".npz") for p in second)
    reference = ft_worker.train(tf.distribute.get_strategy())
    for i, expected in enumerate(reference):
        np.testing.assert_array_equal(w0[f"arr_{i}"], w1[f"arr_{i}"])
        np.testing.assert_allclose(w0[f"arr_{i}"], expected, atol=1e-5)
    assert time.monotonic() - start < 480
