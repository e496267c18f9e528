"""Patient data -> presence of pathology, with the seed's perceptron.

Data: scikit-learn's bundled breast-cancer measurements (offline). The model
is ``Pipeline(StandardScaler, PerceptronClassifier)``; a small grid search
picks the hidden width; the report gives test metrics, the spread of the test
score over repeated splits (model stability) and plots: ROC curve,
confusion matrix, learning curve and training loss.

    python recipes/patient_pathology.py            # about a minute on 2 CPU cores
    python recipes/patient_pathology.py --tune     # keras-tuner instead of the grid
    python recipes/patient_pathology.py --smoke    # seconds
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    Timer,
    announce_report,
    output_dir,
    parser,
    print_table,
    report_dir,
    use_agg_backend,
)


def main(argv=None):
    p = parser(__doc__.splitlines()[0], epochs=60)
    p.add_argument(
        "--tune",
        action="store_true",
        help="keras-tuner (Bayesian) over hidden units and learning rate instead of the grid",
    )
    args = p.parse_args(argv)
    plt = use_agg_backend()
    from sklearn.base import clone
    from sklearn.metrics import (
        ConfusionMatrixDisplay,
        RocCurveDisplay,
        accuracy_score,
        f1_score,
        roc_auc_score,
    )
    from sklearn.model_selection import (
        GridSearchCV,
        LearningCurveDisplay,
        StratifiedShuffleSplit,
        train_test_split,
    )
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import tfzoo

    out = output_dir(args, "patient_pathology")
    X, y = tfzoo.datasets.load_pathology()
    epochs = 3 if args.smoke else args.epochs
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=args.seed
    )
    pipe = make_pipeline(
        StandardScaler(),
        tfzoo.PerceptronClassifier(
            epochs=epochs,
            learning_rate=0.01,
            random_state=args.seed,
            strategy=args.strategy,
            tensorboard_dir=args.logdir,
        ),
    )
    if args.tune:
        from tfzoo.tuning import TunedClassifier

        space = {
            "perceptronclassifier__hidden_units": [2, 4, 8, 16],
            "perceptronclassifier__learning_rate": {"min": 1e-3, "max": 0.1, "sampling": "log"},
        }
        search = TunedClassifier(
            pipe,
            space,
            tuner="bayesian",
            max_trials=2 if args.smoke else 8,
            cv=3,
            scoring="roc_auc",
            random_state=args.seed,
        )
    else:
        grid = {"perceptronclassifier__hidden_units": [2] if args.smoke else [2, 4, 8]}
        search = GridSearchCV(pipe, grid, cv=3, scoring="roc_auc")
    with Timer() as fit_time:
        search.fit(X_train, y_train)
    best = search.best_estimator_
    proba = best.predict_proba(X_test)[:, 1]
    pred = best.predict(X_test)

    # Model stability: the same pipeline over repeated random splits.
    splits = StratifiedShuffleSplit(
        n_splits=2 if args.smoke else 5, test_size=0.25, random_state=args.seed
    )
    scores, first_weights = [], []
    for train_idx, test_idx in splits.split(X, y):
        fitted = clone(best).fit(X.iloc[train_idx], y.iloc[train_idx])
        scores.append(fitted.score(X.iloc[test_idx], y.iloc[test_idx]))
        layer = fitted[-1].model_.get_layer("perceptron")
        first_weights.append(np.abs(layer.W2.numpy()).sum())

    rows = [
        (
            "best hidden units",
            search.best_params_["perceptronclassifier__hidden_units"],
        ),
        ("test accuracy", accuracy_score(y_test, pred)),
        ("test ROC AUC", roc_auc_score(y_test, proba)),
        ("test F1 (pathology)", f1_score(y_test, pred)),
        ("stability: accuracy mean", float(np.mean(scores))),
        ("stability: accuracy std", float(np.std(scores))),
        (
            "stability: |W2| std/mean",
            float(np.std(first_weights) / np.mean(first_weights)),
        ),
        ("search", "keras-tuner, Bayesian" if args.tune else "grid search"),
        ("fit + search time", f"{fit_time.seconds:.1f} s"),
    ]
    print_table("patient data -> pathology (breast cancer, 25% held out)", rows)

    fig, axes = plt.subplots(2, 2, figsize=(10, 9))
    RocCurveDisplay.from_predictions(y_test, proba, ax=axes[0, 0], name="perceptron")
    axes[0, 0].set_title("ROC curve (test)")
    ConfusionMatrixDisplay.from_predictions(
        y_test,
        pred,
        ax=axes[0, 1],
        display_labels=["benign", "pathology"],
        colorbar=False,
    )
    axes[0, 1].set_title("Confusion matrix (test)")
    LearningCurveDisplay.from_estimator(
        clone(best),
        X_train,
        y_train,
        cv=3,
        ax=axes[1, 0],
        train_sizes=[0.3, 1.0] if args.smoke else [0.1, 0.3, 0.6, 1.0],
    )
    axes[1, 0].set_title("Learning curve")
    axes[1, 1].plot(best[-1].loss_curve_)
    axes[1, 1].set(title="Training loss", xlabel="epoch", ylabel="cross-entropy")
    fig.tight_layout()
    fig.savefig(out / "patient_pathology.png", dpi=100)
    print(f"\nplots: {out / 'patient_pathology.png'}")
    result = dict(rows)
    if args.report:
        names = np.array(["benign", "pathology"])
        index = tfzoo.reports.classification_report(
            report_dir(out),
            names[np.asarray(y_test)],
            names[np.asarray(pred)],
            proba=np.column_stack([1 - proba, proba]),
            classes=names,
            model=best,
            summary=rows,
            title="Patient data -> pathology: the perceptron on the held-out patients",
        )
        result["report"] = announce_report(index)
    return result


if __name__ == "__main__":
    main()
