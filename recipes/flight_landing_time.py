"""Flight history -> landing time: a perceptron predicts how late a flight lands.

The data are GENERATED (tfzoo.datasets.make_flights): one row per flight with
the route, carrier, aircraft, schedule, weather at the destination and the
departure delay; the target is the arrival delay in minutes (landing time
minus scheduled landing time), from a documented nonlinear, noisy process
(datasets/flights.md). The model is a scikit-learn pipeline: one-hot encoding
of the categories and standardisation of the numbers (ColumnTransformer),
then tfzoo.PerceptronRegressor with 64 ReLU hidden units, the target
standardised too (TransformedTargetRegressor). Baselines on the same
features: the mean (DummyRegressor) and linear regression
(tfzoo.LinearRegressor). --tune searches the hidden width and learning rate
with keras-tuner's Bayesian optimisation (tfzoo.tuning.TunedRegressor).

    python recipes/flight_landing_time.py            # about 30 s on 2 CPU cores
    python recipes/flight_landing_time.py --tune     # plus the search, a few minutes
    python recipes/flight_landing_time.py --smoke    # seconds
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

NAME = "flight_landing_time"


def main(argv=None):
    p = parser(__doc__.splitlines()[0], epochs=60)
    p.add_argument("--flights", type=int, default=20000, help="generated flights")
    p.add_argument(
        "--tune",
        action="store_true",
        help="tune hidden units and learning rate (keras-tuner, 3-fold CV)",
    )
    args = p.parse_args(argv)
    plt = use_agg_backend()
    from sklearn.compose import TransformedTargetRegressor, make_column_transformer
    from sklearn.dummy import DummyRegressor
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    import tfzoo
    from tfzoo.tuning import TunedRegressor

    out = output_dir(args, NAME)
    frame = tfzoo.datasets.make_flights(2000 if args.smoke else args.flights, seed=args.seed)
    X, y = frame.drop(columns="arrival_delay"), frame["arrival_delay"]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=args.seed
    )
    categorical = list(X.select_dtypes("category").columns)
    numeric = [c for c in X.columns if c not in categorical]

    def on_features(regressor):
        features = make_column_transformer(
            (OneHotEncoder(drop="first", sparse_output=False), categorical),
            (StandardScaler(), numeric),
        )
        return TransformedTargetRegressor(
            make_pipeline(features, regressor), transformer=StandardScaler()
        )

    perceptron = tfzoo.PerceptronRegressor(
        hidden_units=64,
        hidden_activation="relu",
        epochs=5 if args.smoke else args.epochs,
        batch_size=64,
        learning_rate=0.003,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        random_state=args.seed,
        strategy=args.strategy,
        tensorboard_dir=args.logdir,
    )
    if args.tune:
        perceptron = TunedRegressor(
            perceptron,
            {
                "hidden_units": [64, 16, 32, 128],
                "learning_rate": {"min": 1e-3, "max": 3e-2, "sampling": "log", "default": 3e-3},
            },
            tuner="bayesian",
            max_trials=2 if args.smoke else 6,
            cv=3,
            random_state=args.seed,
        )
    models = {
        "mean predictor": on_features(DummyRegressor()),
        "linear regression": on_features(tfzoo.LinearRegressor()),
        "perceptron": on_features(perceptron),
    }
    predictions, fit_seconds = {}, {}
    for name, model in models.items():
        with Timer() as t:
            model.fit(X_train, y_train)
        fit_seconds[name] = t.seconds
        predictions[name] = model.predict(X_test)
    fitted = models["perceptron"].regressor_[-1]
    tuned = fitted if args.tune else None
    fitted = fitted.best_estimator_ if args.tune else fitted

    rows = [
        ("data", "generated flights (make_flights)"),
        ("flights (train / test)", f"{len(X_train)} / {len(X_test)}"),
        (
            "features",
            f"{len(categorical)} categorical (one-hot), {len(numeric)} numeric (standardised)",
        ),
    ]
    for name, pred in predictions.items():
        rows += [
            (f"{name}: MAE (min)", float(mean_absolute_error(y_test, pred))),
            (f"{name}: RMSE (min)", float(root_mean_squared_error(y_test, pred))),
            (f"{name}: R²", float(r2_score(y_test, pred))),
        ]
    rows += [
        (
            "perceptron MAE / linear MAE",
            float(
                mean_absolute_error(y_test, predictions["perceptron"])
                / mean_absolute_error(y_test, predictions["linear regression"])
            ),
        ),
        ("perceptron hidden units", fitted.hidden_units),
        ("perceptron epochs (early stopping)", fitted.n_iter_),
    ]
    if tuned is not None:
        rows += [
            ("tuned: learning rate", float(tuned.best_params_["learning_rate"])),
            ("tuned: CV R² of the best trial", tuned.best_score_),
        ]
    rows += [
        ("linear regression fit time", f"{fit_seconds['linear regression']:.1f} s"),
        ("perceptron fit time", f"{fit_seconds['perceptron']:.1f} s"),
    ]
    print_table("flight history -> landing time (arrival delay, 25% held out)", rows)

    fig, axes = plt.subplots(2, 2, figsize=(12, 10))
    ax = axes[0, 0]
    for name, colour in (("linear regression", "tab:orange"), ("perceptron", "tab:blue")):
        ax.scatter(y_test, predictions[name], s=4, alpha=0.3, color=colour, label=name)
    low, high = np.percentile(y_test, [0.5, 99.5])
    ax.plot([low, high], [low, high], "k--", lw=1, label="perfect")
    ax.set(
        xlim=(low, high),
        ylim=(low, high),
        title="Predicted vs true arrival delay (test)",
        xlabel="true (min)",
        ylabel="predicted (min)",
    )
    ax.legend(markerscale=4)
    ax = axes[0, 1]
    bins = np.linspace(-40, 40, 81)
    for name, pred in predictions.items():
        ax.hist(y_test - pred, bins=bins, histtype="step", lw=1.5, label=name)
    ax.set(title="Residuals (test)", xlabel="true − predicted (min)", ylabel="flights")
    ax.legend()
    ax = axes[1, 0]
    ax.plot(fitted.history_["loss"], label="training")
    if "val_loss" in fitted.history_:
        ax.plot(fitted.history_["val_loss"], label="validation (10%)")
    ax.set(
        title="Perceptron training curve",
        xlabel="epoch",
        ylabel="MSE (standardised delay)",
        yscale="log",
    )
    ax.legend()
    ax = axes[1, 1]
    hours = np.sort(X_test["dep_hour"].unique())
    for name, pred in predictions.items():
        error = np.abs(y_test.to_numpy() - pred)
        by_hour = [error[X_test["dep_hour"].to_numpy() == h].mean() for h in hours]
        ax.plot(hours, by_hour, "o-", label=name)
    ax.set(
        title="Error by scheduled departure hour (rush hours 8:00, 18:00)",
        xlabel="departure hour",
        ylabel="MAE (min)",
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / f"{NAME}.png", dpi=100)
    print(f"\nplots: {out / f'{NAME}.png'}")
    result = dict(rows)
    if args.report:
        index = tfzoo.reports.regression_report(
            report_dir(out),
            y_test,
            predictions["perceptron"],
            baseline=predictions["linear regression"],
            baseline_name="linear regression",
            model=fitted,
            summary=rows,
            title="Flight history -> landing time: the perceptron's arrival delays (min)",
        )
        result["report"] = announce_report(index)
    return result


if __name__ == "__main__":
    main()
