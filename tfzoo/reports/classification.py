"""The classification report: confusion matrix, confident mistakes, per-class scores, curves."""

from __future__ import annotations

import numpy as np

from tfzoo.reports import _common as c

_MISTAKES = 12


def _curves_figure(y_true, proba, classes, folder):
    """ROC curve (two classes) or one-vs-rest precision-recall curves (more)."""
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    fig, ax = c.subplots(figsize=(5.5, 4.5))
    if len(classes) == 2:
        positive = y_true == classes[1]
        fpr, tpr, _ = roc_curve(positive, proba[:, 1])
        ax.plot(fpr, tpr, label=f"{classes[1]} (AUC {auc(fpr, tpr):.3f})")
        ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="chance")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
        name = "roc.png"
    else:
        for k, cls in enumerate(classes):
            positive = y_true == cls
            if not positive.any():
                continue
            precision, recall, _ = precision_recall_curve(positive, proba[:, k])
            ax.plot(recall, precision, lw=1, label=str(cls))
        ax.set(
            xlabel="recall",
            ylabel="precision",
            title="Precision-recall (one class vs the rest)",
            xlim=(0, 1),
            ylim=(0, 1.02),
        )
        name = "pr.png"
    ax.legend(fontsize=7, ncol=2 if len(classes) > 5 else 1)
    ax.grid(alpha=0.3)
    return c.save_figure(fig, folder, name), name[:-4]


def classification_report(
    path,
    y_true,
    y_pred,
    *,
    proba=None,
    classes=None,
    images=None,
    model=None,
    history=None,
    summary=None,
    title="Classification",
):
    """Write a browsable report of a classifier's predictions on held-out samples.

    The page has the confusion matrix (click a cell to see its samples: their images when
    ``images`` is given), the most confident mistakes, per-class precision and recall, the ROC
    curve (two classes) or precision-recall curves (more) when ``proba`` is given, and the
    training curves of ``model`` / ``history``.

    Args:
        path: the report's folder (or its ``index.html``).
        y_true, y_pred: true and predicted labels, ``n >= 1`` each.
        proba: optional ``(n, n_classes)`` predicted probabilities, columns in ``classes`` order.
        classes: the class labels; default ``model.classes_``, else the sorted labels seen.
        images: optional ``(n, H, W[, C])`` images of the samples.
        model: the fitted estimator (``history_`` gives the training curves).
        history: per-epoch training values, instead of the model's own.
        summary: a dict or list of ``(name, value)`` rows for the results table.
        title: the page's title.

    Returns:
        The path of ``index.html``.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    curves = c.training_history(model, history)
    y_true = np.asarray(y_true).ravel()
    y_pred = np.asarray(y_pred).ravel()
    if y_true.size == 0:
        raise ValueError("a classification report needs at least one sample, got 0")
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same length, got {y_true.size} and {y_pred.size}"
        )
    if classes is None and model is not None and hasattr(model, "classes_"):
        classes = model.classes_
    if classes is None:
        classes = np.unique(np.concatenate([y_true, y_pred]))
    classes = np.asarray(classes)
    unknown = sorted({str(v) for v in np.concatenate([y_true, y_pred])} - {str(v) for v in classes})
    if unknown:
        raise ValueError(f"labels {unknown} are not in classes {classes.tolist()}")
    n = y_true.size
    if proba is not None:
        proba = np.asarray(proba, dtype=float)
        if proba.shape != (n, len(classes)):
            raise ValueError(
                f"proba must be (n_samples, n_classes) = ({n}, {len(classes)}), "
                f"got shape {proba.shape}"
            )
    if images is not None:
        images = c.as_images(images)
        if images.shape[0] != n:
            raise ValueError(f"images has {images.shape[0]} images but y_true has {n} labels")

    folder = c.output_folder(path)
    index = {str(v): k for k, v in enumerate(classes)}
    t_idx = np.array([index[str(v)] for v in y_true])
    p_idx = np.array([index[str(v)] for v in y_pred])
    confidence = proba[np.arange(n), p_idx] if proba is not None else np.full(n, np.nan)
    samples = []
    for i in range(n):
        sample = {"t": int(t_idx[i]), "p": int(p_idx[i])}
        if proba is not None:
            sample["c"] = round(float(confidence[i]), 4)
        if images is not None:
            sample["src"] = c.save_image(images[i], folder, f"sample_{i:04d}.png")
        samples.append(sample)

    names = [str(v) for v in classes]
    matrix = confusion_matrix(t_idx, p_idx, labels=np.arange(len(classes)))
    peak = max(int(matrix.max()), 1)
    cells = ['<table class="confusion" id="confusion-matrix"><thead><tr><th>true \\ predicted</th>']
    cells += [f"<th>{c.esc(name)}</th>" for name in names]
    cells.append("</tr></thead><tbody>")
    for i, name in enumerate(names):
        cells.append(f"<tr><th>{c.esc(name)}</th>")
        for j in range(len(names)):
            count = int(matrix[i, j])
            shade = count / peak
            kind = "hit" if i == j else "miss"
            cells.append(
                f'<td class="cell {kind}" data-true="{i}" data-pred="{j}" '
                f'style="--shade:{shade:.3f}" tabindex="0">{count}</td>'
            )
        cells.append("</tr>")
    cells.append("</tbody></table>")
    cells.append(
        '<div id="cell-samples" class="samples"><p class="hint">Click a cell to see its '
        "samples.</p></div>"
    )
    sections = [c.section("confusion", "Confusion matrix", "".join(cells))]

    wrong = np.flatnonzero(t_idx != p_idx)
    if wrong.size == 0:
        body = c.empty(f"No mistakes: all {n} samples are classified correctly.")
    else:
        if proba is not None:
            wrong = wrong[np.argsort(-confidence[wrong], kind="stable")]
        body = '<div class="grid small" id="mistakes" data-samples="{}"></div>'.format(
            ",".join(str(i) for i in wrong[:_MISTAKES])
        )
        if proba is None:
            body = c.empty("No probabilities given: mistakes in sample order.") + body
    sections.append(c.section("confident-mistakes", "Most confident mistakes", body))

    precision, recall, f1, support = precision_recall_fscore_support(
        t_idx, p_idx, labels=np.arange(len(classes)), zero_division=0
    )
    rows = [
        [names[k], f"{precision[k]:.3f}", f"{recall[k]:.3f}", f"{f1[k]:.3f}", str(support[k])]
        for k in range(len(names))
    ]
    sections.append(
        c.section(
            "per-class",
            "Precision and recall per class",
            c.table(rows, ["class", "precision", "recall", "F1", "support"], "per-class-scores"),
        )
    )
    if proba is not None and len(classes) >= 2:
        src, kind = _curves_figure(y_true, proba, classes, folder)
        heading = "ROC curve" if kind == "roc" else "Precision-recall curves"
        sections.append(c.section("curve", heading, c.figure_block(src, heading)))
    else:
        sections.append(
            c.section("curve", "ROC / precision-recall", c.empty("No probabilities given."))
        )
    data = {"kind": "classification", "classNames": names, "samples": samples}
    return c.write_page(
        folder,
        kind="classification",
        title=title,
        sections=sections,
        data=data,
        curves=curves,
        summary=summary,
    )
