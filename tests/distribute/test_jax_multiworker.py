"""``strategy="multiworker"`` on Keras's JAX backend: two processes on 127.0.0.1, and a restart.

The processes (``tests/distribute/jax_mw_worker.py``, ``KERAS_BACKEND=jax``,
``JAX_PLATFORMS=cpu``, 2 host devices each) form a cluster that
``KERAS_DISTRIBUTION_*`` describes, inside a private network namespace this
test creates (``unshare -rn`` + ``ip link set lo up``; :mod:`tests.netns`),
bounded in time, every process ended by its PID. Phase 1 runs both cluster
processes and a one-device reference process side by side; process 1 then
SIGKILLs itself after the backup of epoch 2 of the fault-tolerance run and the
script kills its peer. Phase 2 restarts the pair with the same backup folder.
This process (the TensorFlow pass; the file is deselected on the others, being
under ``tests/distribute/``) checks what they wrote.
"""

import json
import os
import sys

import numpy as np
import pytest

from tests.distribute import jax_mw_worker as worker
from tests.netns import run_in_namespace
from tfzoo.distribute.jax_multiworker import jax_cluster, shard_fit_arguments

TIMEOUT_S = 240  # (bounds on a hang: the two phases take about 25 s and 10 s on 2 free cores)
RESTART_TIMEOUT_S = 120
TOL = 1e-5
PORTS = (23476, 23477)
ADDRESSES = ",".join(f"127.0.0.1:{p}" for p in PORTS)


def _env():
    flags = os.environ.get("XLA_FLAGS", "")
    return {
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        "CUDA_VISIBLE_DEVICES": "",
        "XLA_FLAGS": f"{flags} --xla_force_host_platform_device_count=2".strip(),
        "KERAS_DISTRIBUTION_JOB_ADDRESSES": ADDRESSES,
        "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
    }


def _process(index, mode, out, backup, extra=""):
    return (
        f"KERAS_DISTRIBUTION_PROCESS_ID={index} {extra} "
        f"{sys.executable} -m tests.distribute.jax_mw_worker {mode} {out} {backup}"
    )


def _read(out, role):
    path = out / f"{role}.json"
    if not path.exists():
        return None, None
    with np.load(out / f"{role}.npz") as arrays:
        return json.loads(path.read_text()), dict(arrays)


def _epochs(out, role):
    path = out / f"{role}.epochs"
    return path.read_text().split("\n")[:-1] if path.exists() else []


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("jax_multiworker")
    first, second, backup = root / "first", root / "second", root / "backup"
    first.mkdir()
    second.mkdir()
    # Phase 1: the pair trains, beside a one-device reference; in the
    # fault-tolerance run process 1 dies after the backup of epoch 2, and its
    # peer (then failing or waiting in an all-reduce) is killed by its PID.
    script = (
        f"{_process(0, 'train', first, backup)} & p0=$!; "
        f"{_process(1, 'train', first, backup, 'JAX_MW_DIE_AT=2')} & p1=$!; "
        "env -u KERAS_DISTRIBUTION_JOB_ADDRESSES -u KERAS_DISTRIBUTION_NUM_PROCESSES "
        f"{sys.executable} -m tests.distribute.jax_mw_worker reference {first} & pr=$!; "
        "wait $pr; rr=$?; wait $p1; r1=$?; kill -9 $p0 2>/dev/null; wait $p0; "
        'echo "STATUS reference=$rr victim=$r1"'
    )
    code, log1 = run_in_namespace(script, TIMEOUT_S, env=_env())
    phase1 = {role: _read(first, role) for role in ("process-0", "process-1", "reference")}
    epochs1 = {role: _epochs(first, role) for role in ("process-0", "process-1")}
    backups1 = {p.name: sorted(f.name for f in p.iterdir()) for p in backup.iterdir()}
    # Phase 2: the pair restarted with the same backup folder
    script = (
        f"{_process(0, 'resume', second, backup)} & p0=$!; "
        f"{_process(1, 'resume', second, backup)} & p1=$!; "
        "wait $p0; r0=$?; wait $p1; r1=$?; exit $((r0 | r1))"
    )
    try:  # (a failure here is the second test's: the first one's checks stand)
        code2, log2 = run_in_namespace(script, RESTART_TIMEOUT_S, env=_env())
    except pytest.fail.Exception as exc:
        code2, log2 = None, str(exc)
    return {
        "code2": code2,
        "log2": log2,
        "log1": log1,
        "phase1": phase1,
        "epochs1": epochs1,
        "backups1": backups1,
        "phase2": {role: _read(second, role) for role in ("process-0", "process-1")},
        "epochs2": {role: _epochs(second, role) for role in ("process-0", "process-1")},
        "backups2": {p.name: sorted(f.name for f in p.iterdir()) for p in backup.iterdir()},
    }


def _close(got, want, prefix, n):
    for i in range(n):
        np.testing.assert_allclose(got[f"{prefix}{i}"], want[f"{prefix}{i}"], atol=TOL, rtol=TOL)


@pytest.mark.slow
def test_two_processes_train_as_one_process_does(runs):
    log, phase = runs["log1"], runs["phase1"]
    assert "STATUS reference=0 victim=137" in log, log[-6000:]
    (seen0, w0), (seen1, w1), (ref, wref) = (phase[r] for r in phase)
    assert seen0 is not None and seen1 is not None, log[-6000:]
    # strategy="multiworker" (and "auto", the cluster being described): DataParallel
    # over the 2 x 2 devices of both processes, started from KERAS_DISTRIBUTION_*
    for index, seen in enumerate((seen0, seen1)):
        described = (
            f"KERAS_DISTRIBUTION_* variables: process {index} of 2, "
            f"coordinator 127.0.0.1:{PORTS[0]}"
        )
        assert seen["resolve_auto"] == ["multiworker", f"Keras runs on 'jax' and {described}"]
        assert seen["replicas"] == 4 and seen["auto_same"] is True
        assert seen["strategy"].startswith("KerasDistributionStrategy(DataParallel, 4 replicas")
        assert (
            "strategy='multiworker' -> keras.distribution.DataParallel over 4 cpu devices of "
            f"2 processes (asked for 'multiworker'; {described}; CPU collectives: gloo)"
        ) in seen["log"]
    n = sum(k.startswith("fit_w") for k in wref)
    assert n == 4
    for prefix in ("est_w", "fit_w", "unseeded_w"):
        for i in range(n):  # the processes hold the very same weights
            np.testing.assert_array_equal(w0[f"{prefix}{i}"], w1[f"{prefix}{i}"])
    # equal to one process on one device with the same global batch: the estimator
    # (shuffled; its last batch of 10 rows padded to 12, 6 rows a process) and
    # tfzoo.distribute.fit on arrays
    _close(w0, wref, "est_w", n)
    _close(w0, wref, "fit_w", n)
    np.testing.assert_allclose(w0["est_proba"], wref["est_proba"], atol=TOL)
    np.testing.assert_allclose(seen0["fit_loss"], ref["fit_loss"], rtol=TOL)
    # (Keras weights the padded last batch's loss by 12 rows instead of 10 in the mean)
    np.testing.assert_allclose(seen0["est_loss"], ref["est_loss"], rtol=2e-2)
    assert not np.allclose(w0["fit_w0"], worker.initial_weights()[0])  # it trained
    # each process fed its half of every global batch (8 rows; the last batch of 10
    # padded to 12: 6), and together the processes fed every row once in the epoch
    # (padding weighs 0), in an order they shared although random_state=None
    assert seen0["fed_batches"] == seen1["fed_batches"] == [8] * 5 + [6]
    fed_x = np.concatenate([w0["fed_x"], w1["fed_x"]])
    fed_w = np.concatenate([w0["fed_w"], w1["fed_w"]])
    x, _ = worker.data(90, 1)
    real = fed_x[fed_w > 0]
    np.testing.assert_array_equal(real[np.lexsort(real.T)], x[np.lexsort(x.T)])
    assert ref["fed_batches"] == [16] * 5 + [10]
    # a batch that does not split over the 4 devices: a clear error, not a hang
    assert seen0["uneven_fit"] == (
        "under strategy='multiworker' every global batch must split evenly over the 4 "
        "devices of the 2 processes: 90 rows in batches of 32 give a batch of 26 rows"
    )
    assert ref["uneven_fit"] is None
    # without a cluster, "multiworker" says what to set
    message = ref["no_cluster"]
    assert "strategy='multiworker' on Keras's JAX backend needs the cluster" in message
    for name in ("JOB_ADDRESSES", "NUM_PROCESSES", "PROCESS_ID"):
        assert f"KERAS_DISTRIBUTION_{name}" in message
    assert "TF_CONFIG" in message and "got none of them" in message


@pytest.mark.slow
def test_a_killed_process_resumes_from_the_backup_with_its_peer(runs):
    log = runs["log1"]
    # Phase 1: process 1 died at the end of epoch 2 (after its backup); its peer
    # finished no epoch after that and wrote no final weights
    assert runs["epochs1"]["process-1"] == ["train 1", "train 2"], log[-6000:]
    assert runs["epochs1"]["process-0"] in (["train 1"], ["train 1", "train 2"])
    assert "ft_w0" not in runs["phase1"]["process-0"][1]
    for role in ("process-0", "process-1"):
        assert "epoch-2.json" in runs["backups1"][role], runs["backups1"]
        assert "epoch-3.json" not in runs["backups1"][role]
    # Phase 2: both restored epoch 2 and trained epochs 3 and 4 only
    assert runs["code2"] == 0, runs["log2"][-6000:]
    ref_seen, ref_w = runs["phase1"]["reference"]
    (seen0, w0), (seen1, w1) = runs["phase2"].values()
    assert seen0["ft_start"] == seen1["ft_start"] == 2
    assert runs["epochs2"] == {r: ["resume 3", "resume 4"] for r in ("process-0", "process-1")}
    # the interrupted run ends where an uninterrupted one-device run does (momentum restored)
    n = sum(k.startswith("ft_w") for k in ref_w)
    assert n == 4 and ref_seen["ft_start"] == 0
    for i in range(n):
        np.testing.assert_array_equal(w0[f"ft_w{i}"], w1[f"ft_w{i}"])
    _close(w0, ref_w, "ft_w", n)
    # every process finished: the last one to finish deleted its backups (the other
    # keeps its own until a next run, which starts afresh), each left its end marker
    assert all("done.json" in names for names in runs["backups2"].values())
    assert ["done.json"] in runs["backups2"].values(), runs["backups2"]


def test_the_cluster_comes_from_keras_variables_or_tf_config():
    keras_vars = {
        "KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1:1234, 10.0.0.2:2345",
        "KERAS_DISTRIBUTION_PROCESS_ID": "1",
    }
    cluster = jax_cluster(keras_vars)
    assert (cluster.coordinator, cluster.num_processes, cluster.process_id) == (
        "10.0.0.1:1234",
        2,
        1,
    )
    tf_config = {"cluster": {"chief": ["c:1"], "worker": ["w:1", "w:2"]}}
    tf_config["task"] = {"type": "worker", "index": 1}
    cluster = jax_cluster({"TF_CONFIG": json.dumps(tf_config)})
    assert (cluster.coordinator, cluster.num_processes, cluster.process_id) == ("c:1", 3, 2)
    assert cluster.source == "TF_CONFIG"
    assert jax_cluster({}) is None
    bad = [
        ({"KERAS_DISTRIBUTION_PROCESS_ID": "0"}, "KERAS_DISTRIBUTION_JOB_ADDRESSES must give"),
        (
            {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "a:1", "KERAS_DISTRIBUTION_PROCESS_ID": "0"},
            "KERAS_DISTRIBUTION_NUM_PROCESSES must be set",
        ),
        (
            {**keras_vars, "KERAS_DISTRIBUTION_NUM_PROCESSES": "3"},
            "KERAS_DISTRIBUTION_NUM_PROCESSES=3 does not match",
        ),
        (
            {**keras_vars, "KERAS_DISTRIBUTION_PROCESS_ID": "2"},
            r"PROCESS_ID must be this process's id, 0 to 1, got '2'",
        ),
        (
            {**keras_vars, "KERAS_DISTRIBUTION_PROCESS_ID": "one"},
            "KERAS_DISTRIBUTION_PROCESS_ID must be an integer, got 'one'",
        ),
        (
            {"TF_CONFIG": json.dumps({**tf_config, "task": {"type": "ps", "index": 0}})},
            "TF_CONFIG's task .* is not among its chief and workers",
        ),
    ]
    for environ, match in bad:
        with pytest.raises(ValueError, match=match):
            jax_cluster(environ)


def test_fit_arrays_are_cut_to_each_process_share_of_every_global_batch():
    x = np.arange(40.0)[:, None]
    y, w = np.arange(40), np.linspace(0, 1, 40)
    kwargs = dict(batch_size=16, sample_weight=w, validation_data=(x[:16], y[:16]))
    shares = []
    for p in range(2):
        xs, ys, kw = shard_fit_arguments(x, y, {**kwargs, "validation_batch_size": 8}, (p, 2), 4)
        assert kw["batch_size"] == 8 and kw["validation_batch_size"] == 4
        np.testing.assert_array_equal(ys, xs[:, 0])
        np.testing.assert_array_equal(kw["sample_weight"], w[ys])
        np.testing.assert_array_equal(kw["validation_data"][1], kw["validation_data"][0][:, 0])
        shares.append((ys, kw["validation_data"][1]))
    # batches of 16, 16 and 8 rows: process 0 feeds the first half of each, process 1 the second
    np.testing.assert_array_equal(shares[0][0], [*range(0, 8), *range(16, 24), *range(32, 36)])
    np.testing.assert_array_equal(shares[1][0], [*range(8, 16), *range(24, 32), *range(36, 40)])
    np.testing.assert_array_equal(shares[0][1], [0, 1, 2, 3, 8, 9, 10, 11])
    np.testing.assert_array_equal(shares[1][1], [4, 5, 6, 7, 12, 13, 14, 15])
    # not arrays (a tf.data.Dataset, which Keras shards itself): left alone
    data = object()
    assert shard_fit_arguments(data, None, {"batch_size": 16}, (0, 2), 4)[0] is data
    message = "8 devices of the 2 processes: 44 rows in batches of 16 give a batch of 12 rows"
    with pytest.raises(ValueError, match=message):
        shard_fit_arguments(np.zeros((44, 1)), None, {"batch_size": 16}, (0, 2), 8)
