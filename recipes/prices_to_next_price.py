"""Financial data -> next price: an LSTM forecaster against "tomorrow = today".

Default data is a SYNTHETIC price series around 100 (tfzoo.datasets.make_price_series:
trend + 20-day cycle + mean-reverting noise), clearly not market data. Pass
``--csv FILE --column NAME`` for a real one (one row per day, oldest first; a
``--date-column`` gives the dates). The raw prices go to the estimator as they
are (a pandas Series with business-day dates): ``LSTMRegressor(window=...)``
in its series mode scales each window relative to its last price inside the
estimator, so nothing is standardised by hand. The last 20% of the series is
held out and forecast one day ahead, day by day; ``forecast`` then continues
the whole series past its end, with dates.

On the synthetic prices the table also gives the generator's own expectation
of each next price: no forecaster beats it on average, and it is only about
20% better than "tomorrow = today" (most of a day's change is noise).
``--data sales`` runs the same steps on daily sales around 100 with a trend
and a 30-day season (``make_sales_series``), where much more is predictable.

    python recipes/prices_to_next_price.py --data sales

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
    p.add_argument("--date-column", default=None, help="date column of --csv (optional)")
    p.add_argument(
        "--data", choices=("prices", "sales"), default="prices", help="generated series to use"
    )
    p.add_argument("--window", type=int, default=30)
    p.add_argument("--forecast-days", type=int, default=20, help="days forecast past the end")
    args = p.parse_args(argv)
    plt = use_agg_backend()
    import pandas as pd

    import tfzoo

    out = output_dir(args, "prices_to_next_price")
    best_next = None
    if args.csv:
        frame = pd.read_csv(args.csv)
        for column in (args.column, args.date_column):
            if column is not None and column not in frame:
                raise SystemExit(f"{args.csv} has no column {column!r}: {list(frame.columns)}")
        prices = frame[args.column].to_numpy(float)
        dates = (
            pd.DatetimeIndex(pd.to_datetime(frame[args.date_column]))
            if args.date_column
            else pd.bdate_range("2020-01-01", periods=len(prices))
        )
        source = f"{args.csv}:{args.column}"
    elif args.data == "sales":
        sales = tfzoo.datasets.make_sales_series(600 if args.smoke else 900, seed=args.seed)
        prices, dates = sales.to_numpy(), sales.index
        source = "generated daily sales around 100, trend + 30-day season (make_sales_series)"
    else:
        prices, best_next = tfzoo.datasets.make_price_series(
            600 if args.smoke else 1500, seed=args.seed, return_components=True
        )
        dates = pd.bdate_range("2020-01-01", periods=len(prices))
        source = "SYNTHETIC series around 100 (make_price_series), not market data"
    if np.any(prices <= 0) or not np.all(np.isfinite(prices)):
        raise SystemExit("prices must be positive and finite")
    series = pd.Series(prices, index=dates, name="sales" if args.data == "sales" else "price")
    tail = len(series) // 5
    reg = tfzoo.LSTMRegressor(
        window=args.window,
        units=32,
        epochs=SMOKE_EPOCHS if args.smoke else args.epochs,
        # stop at the best validation loss (last 10% of the training part):
        # 17.2% below persistence on the default prices against 15.8% without
        early_stopping=not args.smoke,
        random_state=args.seed,
        strategy=args.strategy,
        tensorboard_dir=args.logdir,
    )
    with Timer() as t:
        reg.fit(series.iloc[:-tail])  # raw prices: scaled inside the estimator
    # one day ahead over the held-out tail: each window ends the day before
    X_te, _ = tfzoo.datasets.make_windows(prices[-tail - args.window :], args.window)
    pred_next = reg.predict(X_te)
    last_prices = prices[-tail - 1 : -1]
    true_next = prices[-tail:]
    rmse = float(np.sqrt(np.mean((pred_next - true_next) ** 2)))
    persistence = float(np.sqrt(np.mean((last_prices - true_next) ** 2)))
    ahead = reg.forecast(args.forecast_days, series)  # continues the dates
    rows = [
        ("data", source),
        ("held-out days", tail),
        ("LSTM next-price RMSE", rmse),
        ("persistence RMSE (tomorrow = today)", persistence),
        ("RMSE reduction vs persistence", f"{100 * (1 - rmse / persistence):.1f} %"),
        *(
            [
                (
                    "best possible RMSE (the generator's own expectation)",
                    float(np.sqrt(np.mean((best_next[-tail:] - true_next) ** 2))),
                )
            ]
            if best_next is not None
            else []
        ),
        ("price level (held-out mean)", f"{true_next.mean():.1f}"),
        (
            f"forecast {ahead.index[0].date()} .. {ahead.index[-1].date()}",
            f"{ahead.iloc[0]:.2f} .. {ahead.iloc[-1]:.2f}",
        ),
        ("training time", f"{t.seconds:.1f} s"),
    ]
    print_table("prices -> next price (LSTM)", rows)
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.5))
    axes[0].plot(series.index[-tail:], true_next, label="true price")
    axes[0].plot(series.index[-tail:], pred_next, label="LSTM next-day forecast", alpha=0.8)
    axes[0].plot(ahead.index, ahead.to_numpy(), label=f"forecast past the end ({len(ahead)} days)")
    axes[0].set(title="Held-out tail and beyond", xlabel="date", ylabel="price")
    axes[0].legend()
    fig.autofmt_xdate()
    axes[1].plot(reg.history_["loss"])
    axes[1].set(title="Training curve", xlabel="epoch", ylabel="MSE (scaled price changes)")
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
