"""keras-tuner's distributed tuning: examples/distributed_tuning.py as a chief and one worker.

Both processes run in one private network namespace (the chief's gRPC oracle
listens on 127.0.0.1 there only), each bounded by ``timeout``; the script
waits for the worker, stops the chief by its PID if the worker failed, and
the whole namespace is killed if it overruns.
"""

import json
import sys

import pytest

from tests.netns import ROOT, run_in_namespace

EXAMPLE = ROOT / "examples" / "distributed_tuning.py"
TRIALS = 3


def _by_values(pair):
    return json.dumps(pair[0], sort_keys=True)


@pytest.mark.slow
def test_a_worker_runs_the_trials_the_chief_oracle_records(tmp_path):
    results = {name: tmp_path / f"{name}.json" for name in ("chief", "tuner0")}
    common = (
        f"timeout -s KILL 150 {sys.executable} {EXAMPLE} --directory {tmp_path / 'project'} "
        f"--trials {TRIALS} --epochs 2 --seed 0"
    )
    script = (
        f"KERASTUNER_TUNER_ID=chief {common} --results {results['chief']} & chief=$!; "
        f"KERASTUNER_TUNER_ID=tuner0 {common} --results {results['tuner0']} & worker=$!; "
        "wait $worker; rw=$?; "
        # a chief whose worker died would wait for it: stop it by its PID
        '[ "$rw" -eq 0 ] || kill -9 $chief; '
        "wait $chief; rc=$?; exit $((rw | rc))"
    )
    env = {
        "KERASTUNER_ORACLE_IP": "127.0.0.1",
        "KERASTUNER_ORACLE_PORT": "8000",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    code, log = run_in_namespace(script, timeout=180, env=env)
    assert code == 0 and all(p.exists() for p in results.values()), log[-4000:]
    chief = json.loads(results["chief"].read_text())
    worker = json.loads(results["tuner0"].read_text())
    assert (chief["role"], worker["role"]) == ("chief", "worker")
    assert "trained" not in chief  # the chief serves the oracle and trains nothing

    trials = chief["trials"]
    assert [t["trial_id"] for t in trials] == [str(i) for i in range(TRIALS)]
    assert all(t["status"] == "COMPLETED" for t in trials), trials
    # every trial the oracle recorded is one the worker trained, with its score
    trained = worker["trained"]
    assert len(trained) == TRIALS
    recorded = sorted(((t["hyperparameters"], t["score"]) for t in trials), key=_by_values)
    ran = sorted(((t["hyperparameters"], t["val_loss"]) for t in trained), key=_by_values)
    for (hp_chief, score), (hp_worker, val_loss) in zip(recorded, ran, strict=True):
        assert hp_chief == hp_worker
        assert score == pytest.approx(val_loss, rel=1e-6)
    best = min(trials, key=lambda t: t["score"])
    assert chief["best_hyperparameters"] == best["hyperparameters"]
    assert len({json.dumps(t["hyperparameters"], sort_keys=True) for t in trials}) == TRIALS
    # the worker kept each trial's best weights in the shared project folder
    for t in trials:
        trial_dir = tmp_path / "project" / "distributed_tuning" / f"trial_{t['trial_id']}"
        assert (trial_dir / "checkpoint.weights.h5").exists()
