"""Analytic model vs. machine learning: the incline-and-pulley system.

A hanging mass M, tied over a pulley to a block of mass m on a frictionless
incline of angle θ, falls a height h; physics says the speed is then
v = sqrt(2 g h (M − m sin θ) / (m + M)). The data are GENERATED from that
formula with 2% measurement noise (tfzoo.datasets.make_incline_pulley, see
datasets/incline_pulley.md). Linear regression on the raw features, linear
regression on engineered features (log-linear, and physics-inspired), the
perceptron and the formula itself are compared on a test split of the
training ranges and on larger heights and masses (extrapolation).

    python recipes/incline_pulley.py            # about 40 s on 2 CPU cores
    python recipes/incline_pulley.py --tune     # tune the perceptron (keras-tuner), about 2 min
    python recipes/incline_pulley.py --smoke    # seconds
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

#: Outside the training ranges (M 1-5 kg, m 0.5-5 kg, h 0.1-1 m): heavier masses, higher falls.
EXTRAPOLATION = {"M": (5.0, 10.0), "m": (5.0, 10.0), "h": (1.0, 3.0)}


def log_features(X):
    """Generic log-linear features: v ∝ M^a m^b h^c exp(d sin θ)."""
    import pandas as pd

    return pd.DataFrame(
        {
            "log M": np.log(X["M"]),
            "log m": np.log(X["m"]),
            "sin theta": np.sin(X["theta"]),
            "log h": np.log(X["h"]),
        }
    )


def physics_features(X):
    """What energy conservation suggests, linear in the logs:

    log v = ½ log 2g + ½ log h + ½ log(M − m sin θ) − ½ log(M + m).
    """
    import pandas as pd

    drive = np.maximum(X["M"] - X["m"] * np.sin(X["theta"]), 1e-9)
    return pd.DataFrame(
        {
            "log h": np.log(X["h"]),
            "log (M - m sin theta)": np.log(drive),
            "log (M + m)": np.log(X["M"] + X["m"]),
        }
    )


def main(argv=None):
    p = parser(__doc__.splitlines()[0], epochs=150)
    p.add_argument("--tune", action="store_true", help="tune the perceptron with keras-tuner")
    p.add_argument("--noise", type=float, default=0.02, help="relative noise on measured v")
    args = p.parse_args(argv)
    plt = use_agg_backend()
    from sklearn.base import clone
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.metrics import root_mean_squared_error
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    import tfzoo
    from tfzoo.datasets import incline_pulley_speed, make_incline_pulley

    out = output_dir(args, "incline_pulley")
    n = 400 if args.smoke else 3000
    epochs = 10 if args.smoke else args.epochs
    X, y = make_incline_pulley(n, noise=args.noise, seed=args.seed)
    X_far, y_far = make_incline_pulley(
        n // 4, ranges=EXTRAPOLATION, noise=args.noise, seed=args.seed + 1
    )
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=args.seed)

    def log_linear(features):
        return TransformedTargetRegressor(
            regressor=make_pipeline(FunctionTransformer(features), tfzoo.LinearRegressor()),
            func=np.log,
            inverse_func=np.exp,
        )

    perceptron = make_pipeline(
        StandardScaler(),
        tfzoo.PerceptronRegressor(
            hidden_units=16,
            epochs=epochs,
            batch_size=32,
            learning_rate=0.01,
            random_state=args.seed,
            strategy=args.strategy,
        ),
    )
    tuned_rows = []
    if args.tune:
        from tfzoo.tuning import TunedRegressor

        # Trials train a third of the epochs (the final fit below trains them all).
        search = TunedRegressor(
            clone(perceptron).set_params(perceptronregressor__epochs=max(1, epochs // 3)),
            {
                "perceptronregressor__hidden_units": [4, 8, 16, 32],
                "perceptronregressor__learning_rate": {
                    "min": 1e-3,
                    "max": 3e-2,
                    "sampling": "log",
                    "default": 0.01,
                },
            },
            max_trials=2 if args.smoke else 6,
            cv=3,
            scoring="neg_root_mean_squared_error",
            random_state=args.seed,
        )
        with Timer() as tune_time:
            search.fit(X_train, y_train)
        perceptron = clone(perceptron).set_params(**search.best_params_)
        tuned_rows = [
            ("tuned: hidden units", search.best_params_["perceptronregressor__hidden_units"]),
            (
                "tuned: learning rate",
                float(search.best_params_["perceptronregressor__learning_rate"]),
            ),
            ("tuned: CV RMSE", -search.best_score_),
            ("tuning time", f"{tune_time.seconds:.1f} s"),
        ]
    perceptron.set_params(perceptronregressor__tensorboard_dir=args.logdir)

    models = {
        "linear, raw (M, m, theta, h)": tfzoo.LinearRegressor(),
        "linear in logs (log M, log m, sin theta, log h)": log_linear(log_features),
        "linear, physics features (log-linear)": log_linear(physics_features),
        "perceptron, raw (scaled)": perceptron,
    }
    predictions, rows, times = {}, [], {}
    for name, model in models.items():
        with Timer() as t:
            model.fit(X_train, y_train)
        times[name] = t.seconds
        predictions[name] = (model.predict(X_test), model.predict(X_far))
    predictions["analytic formula"] = tuple(
        incline_pulley_speed(d["M"], d["m"], d["theta"], d["h"]) for d in (X_test, X_far)
    )
    for name, (near, far) in predictions.items():
        rows.append((f"{name}: RMSE in range (m/s)", root_mean_squared_error(y_test, near)))
        rows.append((f"{name}: RMSE extrapolation", root_mean_squared_error(y_far, far)))
    physics = models["linear, physics features (log-linear)"].regressor_[-1]
    rows += [
        (
            "physics features: exponents (expect 0.5, 0.5, -0.5)",
            ", ".join(f"{c:.3f}" for c in physics.coef_),
        ),
        (
            "physics features: g from the intercept (expect 9.81)",
            float(np.exp(2 * physics.intercept_) / 2),
        ),
        *tuned_rows,
        (
            "samples (train / test / extrapolation)",
            f"{len(X_train)} / {len(X_test)} / {len(X_far)}",
        ),
        (
            "speed range in / out (m/s)",
            f"{y.min():.2f}-{y.max():.2f} / {y_far.min():.2f}-{y_far.max():.2f}",
        ),
        ("perceptron hidden units (tanh)", perceptron[-1].hidden_units),
        ("perceptron training time", f"{times['perceptron, raw (scaled)']:.1f} s"),
    ]
    print_table(
        f"incline and pulley: RMSE of v on the test split and outside the training ranges "
        f"({args.noise:.0%} noise)",
        rows,
    )

    fig, axes = plt.subplots(1, len(predictions), figsize=(4 * len(predictions), 4.4))
    top = max(y.max(), y_far.max()) * 1.05
    for ax, (name, (near, far)) in zip(axes, predictions.items()):
        ax.scatter(y_test, near, s=6, alpha=0.5, label="in range (test)")
        ax.scatter(y_far, far, s=6, alpha=0.5, color="tab:red", label="extrapolation")
        ax.plot([0, top], [0, top], color="black", lw=0.8)
        ax.set(xlim=(0, top), ylim=(0, top), xlabel="measured v (m/s)", ylabel="predicted v")
        rmse_in = root_mean_squared_error(y_test, near)
        rmse_out = root_mean_squared_error(y_far, far)
        ax.set_title(
            name.replace(" (", "\n(")
            + f"\nRMSE in range {rmse_in:.3f}, extrapolation {rmse_out:.3f}",
            fontsize=9,
        )
    axes[0].legend(loc="upper left", fontsize=8)
    fig.suptitle("Incline and pulley: predicted vs measured speed")
    fig.tight_layout()
    fig.savefig(out / "incline_pulley.png", dpi=100)
    print(f"\nplots: {out / 'incline_pulley.png'}")
    result = dict(rows)
    if args.report:
        index = tfzoo.reports.regression_report(
            report_dir(out),
            y_test,
            predictions["perceptron, raw (scaled)"][0],
            baseline=predictions["analytic formula"][0],
            baseline_name="analytic formula",
            model=perceptron,
            summary=rows,
            title="Incline and pulley: the perceptron's speed (m/s) on the test split",
        )
        result["report"] = announce_report(index)
    return result


if __name__ == "__main__":
    main()
