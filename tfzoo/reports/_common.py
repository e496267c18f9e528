"""What every report shares: the fitted model's history, input checks, figures, the page."""

from __future__ import annotations

import html
import json
import math
import numbers
from importlib import resources
from pathlib import Path

import numpy as np


def subplots(nrows=1, ncols=1, *, figsize=None, squeeze=True):
    """A matplotlib figure and its axes, drawn off screen.

    ``matplotlib.figure.Figure`` directly, not pyplot: the user's backend and pyplot's
    figure list stay as they were.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - matplotlib is in [recipes] and [test]
        raise ImportError(
            'tfzoo.reports draws its figures with matplotlib: pip install "tfzoo[recipes]"'
        ) from exc
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze)


def _unwrap(model):
    """The estimator inside meta-estimators (search, pipeline, target transformer)."""
    for attr in ("best_estimator_", "regressor_"):
        inner = getattr(model, attr, None)
        if inner is not None:
            return _unwrap(inner)
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps:
        return _unwrap(steps[-1][1])
    return model


def training_history(model=None, history=None):
    """The training curves ``{name: [value per epoch]}`` of a fitted model.

    ``history`` (a dict or a ``keras.callbacks.History``) wins when given. ``model`` is a
    fitted scikit-learn estimator (its ``history_``, looked up through pipelines, searches
    and target transformers) or a trained ``keras.Model`` (its ``history``). An unfitted
    estimator raises scikit-learn's ``NotFittedError``; an untrained Keras model a
    ``ValueError``. Returns ``{}`` when neither is given.
    """
    if history is None and model is not None:
        import keras

        if isinstance(model, keras.Model):
            if not model.built:
                raise ValueError(
                    f"the report needs a trained model, got an unbuilt {type(model).__name__} "
                    "(call fit first)"
                )
            history = getattr(model, "history", None)
        else:
            from sklearn.utils.validation import check_is_fitted

            check_is_fitted(model)
            history = getattr(_unwrap(model), "history_", None)
    if history is None:
        return {}
    history = getattr(history, "history", history)
    if not isinstance(history, dict):
        raise ValueError(f"history must be a dict of per-epoch lists, got {type(history).__name__}")
    curves = {}
    for key, values in history.items():
        values = np.asarray(values, dtype=float).ravel()
        if values.size:
            curves[str(key)] = values
    return curves


def summary_rows(summary):
    """``[(name, shown value)]`` from a dict or a list of pairs (``None`` gives ``[]``)."""
    if summary is None:
        return []
    items = summary.items() if isinstance(summary, dict) else summary
    rows = []
    for item in items:
        try:
            key, value = item
        except (TypeError, ValueError):
            raise ValueError(
                f"summary must be a dict or a list of (name, value) pairs, got item {item!r}"
            ) from None
        rows.append((str(key), format_value(value)))
    return rows


def format_value(value):
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, numbers.Integral)):
        value = float(value)
        return "n/a" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def output_folder(path):
    """The report's folder (created); ``path`` is the folder or its ``index.html``."""
    path = Path(path)
    if path.suffix.lower() in (".html", ".htm"):
        path = path.parent
    path.mkdir(parents=True, exist_ok=True)
    (path / "images").mkdir(exist_ok=True)
    return path


def save_figure(fig, folder, name):
    fig.tight_layout()
    fig.savefig(Path(folder) / "images" / name, dpi=90)
    return f"images/{name}"


def training_figure(curves, folder):
    """A PNG of the training curves (losses on one axis, other metrics on another)."""
    if not curves:
        return None
    from matplotlib.ticker import MaxNLocator

    losses = {k: v for k, v in curves.items() if "loss" in k}
    others = {k: v for k, v in curves.items() if "loss" not in k}
    groups = [g for g in (losses, others) if g]
    fig, axes = subplots(1, len(groups), figsize=(6.5 * len(groups), 3.6), squeeze=False)
    for ax, group in zip(axes[0], groups):
        for key, values in group.items():
            epochs = np.arange(1, len(values) + 1)
            ax.plot(epochs, values, marker="o" if len(values) < 30 else None, label=key)
        ax.set(xlabel="epoch", title="losses" if group is losses else "metrics")
        low = min(float(np.min(v)) for v in group.values())
        high = max(float(np.max(v)) for v in group.values())
        if group is losses and low > 0 and high / low > 20:
            ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    return save_figure(fig, folder, "training.png")


def save_image(array, folder, name):
    """Write an image array (H, W), (H, W, 1|3|4), floats in [0, 1] or uint8, as a PNG."""
    from PIL import Image  # matplotlib's own image library

    image = np.asarray(array)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.dtype != np.uint8:
        image = np.clip(np.nan_to_num(image.astype(float)), 0.0, 1.0)
        image = np.round(image * 255).astype(np.uint8)
    Image.fromarray(image).save(Path(folder) / "images" / name, compress_level=1)
    return f"images/{name}"


def as_images(images, what="images"):
    """Validate an image batch: ``(n, H, W)`` or ``(n, H, W, 1|3|4)`` with ``n >= 1``."""
    images = np.asarray(images)
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] not in (1, 3, 4)):
        raise ValueError(
            f"{what} must be (n, height, width) or (n, height, width, channels) with 1, 3 "
            f"or 4 channels, got shape {images.shape}"
        )
    if images.shape[0] == 0:
        raise ValueError(f"a report needs at least one image, got {what} of shape {images.shape}")
    if not np.issubdtype(images.dtype, np.number):
        raise ValueError(f"{what} must be numeric, got dtype {images.dtype}")
    return images


def esc(value):
    return html.escape(str(value), quote=True)


def table(rows, header=None, table_id=None, css="metrics"):
    """An HTML table from rows of already formatted cells."""
    attrs = f' class="{css}"' + (f' id="{table_id}"' if table_id else "")
    parts = [f"<table{attrs}>"]
    if header:
        parts.append(
            "<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr></thead>"
        )
    parts.append("<tbody>")
    for row in rows:
        parts.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def figure_block(src, alt):
    return f'<figure><img src="{esc(src)}" alt="{esc(alt)}"></figure>'


def section(section_id, heading, body):
    return f'<section id="{section_id}"><h2>{esc(heading)}</h2>{body}</section>'


def empty(message):
    return f'<p class="empty">{esc(message)}</p>'


def _asset(name):
    return resources.files("tfzoo.reports").joinpath("assets", name).read_text(encoding="utf-8")


def write_page(folder, *, kind, title, sections, data=None, curves=None, summary=None):
    """Write ``index.html``: summary table, kind-specific sections, training curves.

    Styles and the script are inlined from the package's assets; ``data`` goes into a JSON
    script element the script reads, so the page works from ``file://`` with no server.
    """
    folder = Path(folder)
    rows = summary_rows(summary)
    head = section(
        "summary",
        "Results",
        table(rows, ["measure", "value"], "summary-table") if rows else empty("No results given."),
    )
    training_src = training_figure(curves or {}, folder)
    training = section(
        "training",
        "Training curves",
        figure_block(training_src, "training curves")
        if training_src
        else empty("No training history: the model's fit recorded no per-epoch values."),
    )
    payload = json.dumps(data or {}, separators=(",", ":"), allow_nan=False)
    payload = payload.replace("</", "<\\/")
    page = (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_asset('report.css')}</style></head>"
        f'<body data-kind="{esc(kind)}"><header><h1>{esc(title)}</h1>'
        f'<p class="subtitle">tfzoo report: {esc(kind)}</p></header><main>'
        + head
        + "".join(sections)
        + training
        + "</main>"
        + '<div id="viewer" class="viewer" hidden></div>'
        + f'<script type="application/json" id="report-data">{payload}</script>'
        + f"<script>{_asset('report.js')}</script></body></html>\n"
    )
    index = folder / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def finite_or_none(value):
    value = float(value)
    return value if math.isfinite(value) else None
