"""Regression, forecasting and text-generation reports."""

from __future__ import annotations

import numpy as np

from tfzoo.reports import _common as c


def _vector(values, what):
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{what} must be one value per sample, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite, got {int(np.sum(~np.isfinite(arr)))} NaN/inf")
    return arr


def _scores(y_true, y_pred):
    residual = y_pred - y_true
    rmse = float(np.sqrt(np.mean(residual**2)))
    mae = float(np.mean(np.abs(residual)))
    total = float(np.sum((y_true - y_true.mean()) ** 2))
    r2 = 1.0 - float(np.sum(residual**2)) / total if total > 0 else float("nan")
    return rmse, mae, r2


def regression_report(
    path,
    y_true,
    y_pred,
    *,
    baseline=None,
    baseline_name="baseline",
    forecast=False,
    model=None,
    history=None,
    summary=None,
    title="Regression",
):
    """Write a report of a regressor's or forecaster's predictions on held-out samples.

    The page has predicted against actual values, the residuals, the RMSE / MAE / R² of the
    model (and of ``baseline``), the forecast over the held-out series with the baseline when
    ``forecast`` is true (samples in time order), and the training curves.

    Args:
        path: the report's folder (or its ``index.html``).
        y_true, y_pred: actual and predicted values, ``n >= 1`` each.
        baseline: optional predictions of a baseline (e.g. persistence: tomorrow = today).
        baseline_name: what the baseline is called on the page.
        forecast: the samples are consecutive steps of a series: also plot them over time.
        model: the fitted estimator (``history_`` gives the training curves).
        history: per-epoch training values, instead of the model's own.
        summary: a dict or list of ``(name, value)`` rows for the results table.
        title: the page's title.

    Returns:
        The path of ``index.html``.
    """
    curves = c.training_history(model, history)
    y_true = _vector(y_true, "y_true")
    y_pred = _vector(y_pred, "y_pred")
    if y_true.size == 0:
        raise ValueError("a regression report needs at least one sample, got 0")
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same length, got {y_true.size} and {y_pred.size}"
        )
    if baseline is not None:
        baseline = _vector(baseline, "baseline")
        if baseline.shape != y_true.shape:
            raise ValueError(
                f"baseline must have one value per sample ({y_true.size}), got {baseline.size}"
            )
    folder = c.output_folder(path)

    rows = [["model", *(f"{v:.4f}" for v in _scores(y_true, y_pred))]]
    if baseline is not None:
        rows.append([baseline_name, *(f"{v:.4f}" for v in _scores(y_true, baseline))])
    sections = [
        c.section(
            "scores",
            "Errors on the held-out samples",
            c.table(rows, ["predictor", "RMSE", "MAE", "R²"], "regression-scores"),
        )
    ]

    fig, ax = c.subplots(figsize=(5.5, 5))
    ax.scatter(y_true, y_pred, s=8, alpha=0.6, label="model")
    if baseline is not None:
        ax.scatter(y_true, baseline, s=8, alpha=0.4, marker="x", label=baseline_name)
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    ax.plot([low, high], [low, high], "k--", lw=0.8, label="predicted = actual")
    ax.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual")
    ax.legend(fontsize=7)
    scatter = c.save_figure(fig, folder, "predicted_vs_actual.png")

    fig, axes = c.subplots(1, 2, figsize=(10, 4))
    residual = y_pred - y_true
    axes[0].scatter(y_pred, residual, s=8, alpha=0.6)
    axes[0].axhline(0.0, color="k", lw=0.8)
    axes[0].set(xlabel="predicted", ylabel="predicted − actual", title="Residuals")
    axes[1].hist(residual, bins=min(40, max(5, residual.size // 5)))
    axes[1].set(xlabel="predicted − actual", ylabel="samples", title="Residual distribution")
    residuals = c.save_figure(fig, folder, "residuals.png")
    sections.append(
        c.section(
            "predictions",
            "Predicted vs actual",
            '<div class="figures">'
            + c.figure_block(scatter, "predicted vs actual")
            + c.figure_block(residuals, "residuals")
            + "</div>",
        )
    )
    if forecast:
        fig, ax = c.subplots(figsize=(11, 4))
        steps = np.arange(y_true.size)
        ax.plot(steps, y_true, lw=1.2, label="actual")
        ax.plot(steps, y_pred, lw=1.0, label="model forecast")
        if baseline is not None:
            ax.plot(steps, baseline, lw=0.8, ls="--", label=baseline_name)
        ax.set(xlabel="held-out step", ylabel="value", title="Forecast over the held-out series")
        ax.legend(fontsize=8)
        src = c.save_figure(fig, folder, "forecast.png")
        sections.append(c.section("forecast", "Forecast", c.figure_block(src, "forecast")))
    return c.write_page(
        folder,
        kind="regression",
        title=title,
        sections=sections,
        data={"kind": "regression"},
        curves=curves,
        summary=summary,
    )


def text_report(
    path, samples, *, prompt=None, model=None, history=None, summary=None, title="Text generation"
):
    """Write a report of generated text: samples at several temperatures, validation curve.

    Args:
        path: the report's folder (or its ``index.html``).
        samples: ``{temperature: generated text}``, at least one.
        prompt: the prompt the samples continue.
        model: the fitted ``TextGenerator`` (its ``history_`` gives the curves).
        history: per-epoch training values, instead of the model's own.
        summary: a dict or list of ``(name, value)`` rows for the results table.
        title: the page's title.

    Returns:
        The path of ``index.html``.
    """
    curves = c.training_history(model, history)
    if not isinstance(samples, dict) or not samples:
        raise ValueError(
            f"samples must be a non-empty dict {{temperature: text}}, got {samples!r:.80}"
        )
    folder = c.output_folder(path)
    parts = []
    if prompt is not None:
        parts.append(f'<p>Prompt: <code class="prompt">{c.esc(prompt)}</code></p>')
    parts.append('<div class="samples-text" id="text-samples">')
    for temperature, text in samples.items():
        parts.append(
            f'<div class="sample"><h3>temperature {c.esc(temperature)}</h3>'
            f"<pre>{c.esc(text)}</pre></div>"
        )
    parts.append("</div>")
    sections = [c.section("generated", "Samples", "".join(parts))]
    if "val_loss" in curves:
        from matplotlib.ticker import MaxNLocator

        fig, ax = c.subplots(figsize=(6, 3.6))
        for key in ("loss", "val_loss"):
            if key in curves:
                bits = curves[key] / np.log(2.0)
                ax.plot(np.arange(1, bits.size + 1), bits, marker="o", label=key)
        ax.set(xlabel="epoch", ylabel="bits / character", title="Validation curve")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
        src = c.save_figure(fig, folder, "validation.png")
        body = c.figure_block(src, "validation curve")
    else:
        body = c.empty("No validation loss recorded (validation_fraction=0?).")
    sections.append(c.section("validation", "Validation curve", body))
    return c.write_page(
        folder,
        kind="text",
        title=title,
        sections=sections,
        data={"kind": "text"},
        curves=curves,
        summary=summary,
    )
