"""Financial data -> next price: an LSTM forecaster against "tomorrow = today".

Default data is a SYNTHETIC price series (tfzoo.datasets.make_price_series:
trend + 20-day cycle + mean-reverting noise), clearly not market data. Pass
``--csv FILE --column NAME`` for a real one (one row per day, oldest first).
The model predicts the next log-return from a window of past log-returns; the
last 20% of the series is held out.

    python recipes/prices_to_next_price.py
    python recipes/prices_to_next_price.py --csv prices.csv --column close
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

# --smoke: enough epochs that the model beats its baseline (tests/test_recipes.py).
SMOKE_EPOCHS = 8


def main(argv=None):
    p = parser(__doc__.splitlines()[0], epochs=30)
    p.add_argument("--csv", default=None, help="CSV file with a price column")
    p.add_argument("--column", default="close", help="price column of --csv")
    p.add_argument("--window", type=int, default=30)
    args = p.parse_args(argv)
    plt = use_agg_backend()
    import tfzoo

    out = output_dir(args, "prices_to_next_price")
    if args.csv:
        import pandas as pd

        frame = pd.read_csv(args.csv)
        if args.column not in frame:
            raise SystemExit(f"{args.csv} has no column {args.column!r}: {list(frame.columns)}")
        prices = frame[args.column].to_numpy(float)
        source = f"{args.csv}:{args.column}"
    else:
        prices = tfzoo.datasets.make_price_series(600 if args.smoke else 1500, seed=args.seed)
        source = "SYNTHETIC series (make_price_series), not market data"
    if np.any(prices <= 0) or not np.all(np.isfinite(prices)):
        raise SystemExit("prices must be positive and finite")
    returns = np.diff(np.log(prices))
    tail = len(returns) // 5
    scale = returns[:-tail].std()
    X, y = tfzoo.datasets.make_windows(returns / scale, args.window)
    X_tr, y_tr, X_te = X[:-tail], y[:-tail, 0], X[-tail:]
    reg = tfzoo.LSTMRegressor(
        units=32,
        epochs=SMOKE_EPOCHS if args.smoke else args.epochs,
        random_state=args.seed,
        strategy=args.strategy,
        tensorboard_dir=args.logdir,
    )
    with Timer() as t:
        reg.fit(X_tr, y_tr)
    pred_ret = reg.predict(X_te) * scale
    last_prices = prices[-tail - 1 : -1]
    true_next = prices[-tail:]
    pred_next = last_prices * np.exp(pred_ret)
    rmse = float(np.sqrt(np.mean((pred_next - true_next) ** 2)))
    persistence = float(np.sqrt(np.mean((last_prices - true_next) ** 2)))
    rows = [
        ("data", source),
        ("held-out days", tail),
        ("LSTM next-price RMSE", rmse),
        ("persistence RMSE (tomorrow = today)", persistence),
        ("RMSE reduction vs persistence", f"{100 * (1 - rmse / persistence):.1f} %"),
        ("training time", f"{t.seconds:.1f} s"),
    ]
    print_table("prices -> next price (LSTM)", rows)
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.5))
    axes[0].plot(true_next, label="true price")
    axes[0].plot(pred_next, label="LSTM forecast", alpha=0.8)
    axes[0].set(title="Held-out tail: next-day forecast", xlabel="day", ylabel="price")
    axes[0].legend()
    axes[1].plot(reg.history_["loss"])
    axes[1].set(title="Training curve", xlabel="epoch", ylabel="MSE (scaled returns)")
    fig.tight_layout()
    fig.savefig(out / "prices_to_next_price.png", dpi=100)
    print(f"\nplots: {out / 'prices_to_next_price.png'}")
    result = dict(rows)
    if args.report:
        index = tfzoo.reports.regression_report(
            report_dir(out),
            true_next,
            pred_next,
            baseline=last_prices,
            baseline_name="persistence (tomorrow = today)",
            forecast=True,
            model=reg,
            summary=rows,
            title="Prices -> next price: the LSTM forecast on the held-out tail",
        )
        result["report"] = announce_report(index)
    return result


if __name__ == "__main__":
    main()
