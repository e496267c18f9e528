"""Distributed hyperparameter search with keras-tuner: one chief, any number of workers.

The chief runs the oracle (it picks what each trial tries and records the
results) and trains nothing; each worker asks it for a trial, trains the
tfzoo perceptron on the patient data with those hyperparameters, reports
the result, and asks again until the oracle has run ``--trials`` trials.
Every process runs this same script; keras-tuner gives it its role from
three environment variables:

    KERASTUNER_TUNER_ID     "chief" for the oracle; "tuner0", "tuner1", ... for workers
    KERASTUNER_ORACLE_IP    the chief's address (the chief listens on it)
    KERASTUNER_ORACLE_PORT  the chief's port

    export KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000
    KERASTUNER_TUNER_ID=chief  python examples/distributed_tuning.py --directory runs/tune &
    KERASTUNER_TUNER_ID=tuner0 python examples/distributed_tuning.py --directory runs/tune &
    KERASTUNER_TUNER_ID=tuner1 python examples/distributed_tuning.py --directory runs/tune

All processes share ``--directory`` (the chief keeps the oracle's state
there, the workers their trial checkpoints); use a fresh one per search, as
an existing project is resumed. The chief returns once the workers have
finished; a worker ends when the oracle has no trial left for it. Each
worker can itself train under a distribution strategy (``--strategy
mirrored`` over its GPUs). The chief's gRPC port has no authentication:
keep it on a private network. Without the variables the script runs the
whole search in one process.

``--results FILE`` writes a JSON summary: the chief (or a single process)
the trials its oracle recorded and the best hyperparameters; a worker the
trials it trained.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--directory", required=True, help="the project folder all processes share")
    p.add_argument("--project-name", default="distributed_tuning")
    p.add_argument("--tuner", default="random", help="random, bayesian or grid")
    p.add_argument("--trials", type=int, default=6, help="trials the oracle runs in all")
    p.add_argument("--epochs", type=int, default=20, help="epochs per trial")
    p.add_argument("--strategy", default="auto", help="strategy of each worker's trials")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results", default=None, help="write a JSON summary here")
    return p.parse_args(argv)


def role():
    """``(tuner_id, "chief" | "worker" | "single")``, as keras-tuner reads the environment."""
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "tuner0")
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return tuner_id, "single"
    return tuner_id, "chief" if "chief" in tuner_id else "worker"


def load_data(seed):
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    import tfzoo

    X, y = tfzoo.datasets.load_pathology()
    x_train, x_val, y_train, y_val = train_test_split(
        X.to_numpy("float32"), y.to_numpy("float32"), test_size=0.25, stratify=y, random_state=seed
    )
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), y_train, scaler.transform(x_val), y_val


def main(argv=None):
    args = parse_args(argv)
    from tfzoo.tuning import PerceptronHyperModel, make_tuner

    class RecordingPerceptron(PerceptronHyperModel):
        """The perceptron hypermodel, noting each trial this process trains."""

        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.trained = []

        def fit(self, hp, model, *a, **kw):
            history = super().fit(hp, model, *a, **kw)
            best = min(history.history["val_loss"])
            self.trained.append({"hyperparameters": dict(hp.values), "val_loss": float(best)})
            return history

    tuner_id, kind = role()
    x_train, y_train, x_val, y_val = load_data(args.seed)
    hypermodel = RecordingPerceptron(x_train.shape[1])
    tuner = make_tuner(
        hypermodel,
        args.tuner,
        objective="val_loss",
        max_trials=args.trials,
        strategy=args.strategy,
        directory=args.directory,
        project_name=args.project_name,
        seed=args.seed,
    )
    # The chief serves the oracle here until the workers are done; the others train.
    tuner.search(
        x_train,
        y_train,
        epochs=args.epochs,
        batch_size=32,
        validation_data=(x_val, y_val),
        verbose=0,
    )
    summary = {"tuner_id": tuner_id, "role": kind}
    if kind != "chief":
        summary["trained"] = hypermodel.trained
        print(f"{tuner_id}: trained {len(hypermodel.trained)} trial(s)")
    if kind != "worker":  # a worker's oracle is a client of the chief's, which may be gone now
        trials = sorted(tuner.oracle.trials.values(), key=lambda t: t.trial_id)
        summary["trials"] = [
            {
                "trial_id": t.trial_id,
                "status": t.status,
                "score": t.score,
                "hyperparameters": dict(t.hyperparameters.values),
            }
            for t in trials
        ]
        best = tuner.oracle.get_best_trials(1)
        summary["best_hyperparameters"] = dict(best[0].hyperparameters.values) if best else None
        print(f"{tuner_id}: the oracle recorded {len(trials)} trial(s)")
        for t in trials:
            print(
                f"  trial {t.trial_id} {t.status:<9} val_loss={t.score} {t.hyperparameters.values}"
            )
    if args.results:
        Path(args.results).write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
