"""tfzoo.reports: pages checked against scikit-learn / pycocotools, in Chromium, and bad input."""

import re
import time

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

import tfzoo
from tests.reports.checks import check_page, count, shown_detections
from tfzoo.datasets import make_shapes
from tfzoo.evaluation import coco_evaluate
from tfzoo.reports import (
    classification_report,
    detection_report,
    regression_report,
    text_report,
)


def _detections(data, rng, extra=2):
    """The ground truth jittered, with random scores, plus ``extra`` false alarms per image."""
    n, m = data["classes"].shape
    k = m + extra
    boxes = np.zeros((n, k, 4), np.float32)
    classes = np.ones((n, k), np.int32)
    scores = np.zeros((n, k), np.float32)
    size = data["images"].shape[1]
    masks = np.zeros((n, k, size, size), np.float32)
    for i in range(n):
        g = int(data["num_instances"][i])
        boxes[i, :g] = data["boxes"][i, :g] + rng.normal(0, 0.5, (g, 4))
        classes[i, :g] = data["classes"][i, :g]
        scores[i, :g] = rng.uniform(0.5, 1.0, g)
        masks[i, :g] = data["masks"][i, :g]
        for j in range(g, g + extra):
            y, x = rng.uniform(0, size - 12, 2)
            boxes[i, j] = [y, x, y + 10, x + 10]
            classes[i, j] = rng.integers(1, 4)
            scores[i, j] = rng.uniform(0.05, 0.45)
            masks[i, j, int(y) : int(y) + 10, int(x) : int(x) + 10] = 1
    counts = data["num_instances"] + extra
    return {
        "boxes": boxes,
        "classes": classes,
        "scores": scores,
        "num_detections": counts,
        "masks": masks,
    }


@pytest.fixture(scope="module")
def shapes():
    return make_shapes(12, 32, 3, seed=3)


def test_detection_report_metrics_match_pycocotools(shapes, tmp_path):
    rng = np.random.default_rng(0)
    dets = _detections(shapes, rng)
    index = detection_report(
        tmp_path, shapes["images"], dets, class_names=shapes["class_names"], ground_truth=shapes
    )
    page = index.read_text()
    expected = coco_evaluate(shapes, dets)
    table = page[page.index('id="coco-metrics"') :]
    ap_row = re.search(r"<tr><td>AP</td><td>([\d.]+)</td><td>([\d.]+)</td>", table)
    assert float(ap_row.group(1)) == pytest.approx(expected["bbox/AP"], abs=1e-4)
    assert float(ap_row.group(2)) == pytest.approx(expected["segm/AP"], abs=1e-4)
    # perfect detections: AP 1 for every class
    perfect = {
        "boxes": shapes["boxes"],
        "classes": np.maximum(shapes["classes"], 1),
        "scores": np.ones(shapes["classes"].shape, np.float32),
        "num_detections": shapes["num_instances"],
        "masks": shapes["masks"],
    }
    page = detection_report(
        tmp_path / "perfect",
        shapes["images"],
        perfect,
        class_names=shapes["class_names"],
        ground_truth=shapes,
    ).read_text()
    per_class = page[page.index('id="per-class-ap"') :].split("</table>")[0]
    rows = re.findall(r"<tr><td>(\w+)</td><td>(\d+)</td>((?:<td>[\d.]+</td>){4})</tr>", per_class)
    assert [r[0] for r in rows] == ["square", "circle", "triangle"]
    for name, instances, values in rows:
        cid = shapes["class_names"].index(name)
        valid = np.arange(3)[None, :] < shapes["num_instances"][:, None]
        assert int(instances) == int(np.sum((shapes["classes"] == cid) & valid))
        assert re.findall(r"[\d.]+", values) == ["1.0000"] * 4


def test_pages_are_self_contained(shapes, tmp_path):
    dets = _detections(shapes, np.random.default_rng(1))
    page = detection_report(
        tmp_path, shapes["images"], dets, class_names=shapes["class_names"]
    ).read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<link" not in page and "<script src" not in page
    assert "No ground truth given" in page
    assert len(list((tmp_path / "images").glob("image_*.png"))) == 12


def test_classification_report_matches_sklearn(tmp_path):
    rng = np.random.default_rng(0)
    classes = np.array(["cat", "dog", "owl"])
    y_true = classes[rng.integers(0, 3, 60)]
    proba = rng.dirichlet(np.ones(3), 60)
    y_pred = classes[proba.argmax(1)]
    page = classification_report(
        tmp_path, y_true, y_pred, proba=proba, classes=classes, images=rng.uniform(size=(60, 8, 8))
    ).read_text()
    cells = re.findall(r'data-true="(\d)" data-pred="(\d)"[^>]*>(\d+)</td>', page)
    matrix = np.zeros((3, 3), int)
    for t, p, n in cells:
        matrix[int(t), int(p)] = int(n)
    np.testing.assert_array_equal(matrix, confusion_matrix(y_true, y_pred, labels=classes))
    precision, recall, _, _ = precision_recall_fscore_support(y_true, y_pred, labels=classes)
    table = page[page.index('id="per-class-scores"') :].split("</table>")[0]
    rows = re.findall(r"<tr><td>(\w+)</td><td>([\d.]+)</td><td>([\d.]+)</td>", table)
    assert [r[0] for r in rows] == list(classes)
    np.testing.assert_allclose([float(r[1]) for r in rows], precision, atol=5e-4)
    np.testing.assert_allclose([float(r[2]) for r in rows], recall, atol=5e-4)
    assert 'id="mistakes"' in page and "pr.png" in page


def test_reports_in_chromium(browser, tmp_path):
    """Every kind of page loads without errors; controls work; an empty result says so."""
    rng = np.random.default_rng(0)
    shapes = make_shapes(6, 32, 3, seed=1)
    no_dets = {
        "boxes": np.zeros((6, 4, 4)),
        "classes": np.zeros((6, 4), int),
        "scores": np.zeros((6, 4)),
        "num_detections": np.zeros(6, int),
    }
    index = detection_report(
        tmp_path / "none",
        shapes["images"],
        no_dets,
        class_names=shapes["class_names"],
        ground_truth=shapes,
        history={"loss": [2.0, 1.0]},
    )
    assert check_page(browser, index, tmp_path / "none.png") == "detection"
    assert "no detections" in browser.evaluate(
        "document.getElementById('no-detections').textContent"
    )
    assert count(browser, "#grid .card") == 6

    y = rng.normal(size=50)
    index = regression_report(
        tmp_path / "reg", y, y + rng.normal(0, 0.1, 50), baseline=np.roll(y, 1), forecast=True
    )
    assert check_page(browser, index, tmp_path / "reg.png") == "regression"
    assert count(browser, "#regression-scores tbody tr") == 2
    assert browser.evaluate("!!document.querySelector('#forecast img')")
    assert "No training history" in browser.evaluate("document.body.innerText")

    index = text_report(
        tmp_path / "text",
        {0.5: "def f(x):\n    return x", 1.0: "</script><b>not bold</b>"},
        prompt="def",
        history={"loss": [3.0, 2.0], "val_loss": [3.2, 2.5]},
    )
    assert check_page(browser, index, tmp_path / "text.png") == "text"
    samples = browser.evaluate(
        "Array.from(document.querySelectorAll('#text-samples pre'), p => p.textContent)"
    )
    assert samples == ["def f(x):\n    return x", "</script><b>not bold</b>"]
    assert browser.evaluate("!!document.querySelector('#validation img')")


@pytest.mark.slow
def test_500_image_detection_report_opens_quickly(browser, tmp_path):
    data = make_shapes(500, 64, 4, seed=5)
    dets = _detections(data, np.random.default_rng(2), extra=6)
    start = time.perf_counter()
    index = detection_report(tmp_path, data["images"], dets, class_names=data["class_names"])
    written = time.perf_counter() - start
    start = time.perf_counter()
    browser.open(index.resolve().as_uri())
    opened = time.perf_counter() - start
    loaded = browser.evaluate("Array.from(document.images).filter(i => i.naturalWidth).length")
    assert loaded < 250, f"{loaded} of 500 thumbnails loaded at once: not lazy"
    assert opened < 5.0, f"the page took {opened:.1f} s to open"
    assert written < 60.0
    # the slider changes what is shown: the 6 false alarms per image score below 0.5
    assert shown_detections(browser, 0.0) == int(dets["num_detections"].sum())
    assert shown_detections(browser, 0.5) == int(data["num_instances"].sum())
    check_page(browser, index, tmp_path / "big.png")


def test_unfitted_model_is_refused(tmp_path):
    with pytest.raises(NotFittedError, match="not fitted"):
        classification_report(tmp_path, [0, 1], [0, 1], model=tfzoo.CNNClassifier())
    with pytest.raises(NotFittedError, match="not fitted"):
        regression_report(tmp_path, [0.0, 1.0], [0.0, 1.0], model=tfzoo.LSTMRegressor())
    import keras

    unbuilt = keras.Sequential([keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="unbuilt Sequential"):
        text_report(tmp_path, {1.0: "x"}, model=unbuilt)
    assert not (tmp_path / "index.html").exists()


def test_bad_input_gives_clear_errors(shapes, tmp_path):
    names = shapes["class_names"]
    dets = _detections(shapes, np.random.default_rng(0))
    with pytest.raises(
        ValueError, match=r"at least one image, got images of shape \(0, 32, 32, 3\)"
    ):
        detection_report(tmp_path, shapes["images"][:0], dets, class_names=names)
    with pytest.raises(ValueError, match=r"must have 1 dimensions and 12 rows.*got shape \(11,\)"):
        detection_report(
            tmp_path,
            shapes["images"],
            {**dets, "num_detections": dets["num_detections"][:11]},
            class_names=names,
        )
    with pytest.raises(ValueError, match="needs 'scores'"):
        detection_report(
            tmp_path,
            shapes["images"],
            {k: v for k, v in dets.items() if k != "scores"},
            class_names=names,
        )
    with pytest.raises(ValueError, match=r"class ids must be in \[1, 2\].*got 3"):
        detection_report(tmp_path, shapes["images"], dets, class_names=names[:3])
    with pytest.raises(ValueError, match="threshold must be in"):
        detection_report(tmp_path, shapes["images"], dets, class_names=names, threshold=2)
    with pytest.raises(ValueError, match="at least one sample, got 0"):
        classification_report(tmp_path, [], [])
    with pytest.raises(ValueError, match=r"labels \['7'\] are not in classes \[0, 1\]"):
        classification_report(tmp_path, [0, 1], [0, 7], classes=[0, 1])
    with pytest.raises(ValueError, match=r"proba must be .* = \(2, 2\), got shape \(2, 3\)"):
        classification_report(tmp_path, [0, 1], [0, 1], proba=np.ones((2, 3)) / 3)
    with pytest.raises(ValueError, match="images has 3 images but y_true has 2"):
        classification_report(tmp_path, [0, 1], [0, 1], images=np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="y_pred must be finite, got 1 NaN"):
        regression_report(tmp_path, [0.0, 1.0], [0.0, np.nan])
    with pytest.raises(ValueError, match="at least one sample, got 0"):
        regression_report(tmp_path, [], [])
    with pytest.raises(ValueError, match="samples must be a non-empty dict"):
        text_report(tmp_path, {})
    with pytest.raises(ValueError, match="history must be a dict of per-epoch lists, got list"):
        text_report(tmp_path, {1.0: "x"}, history=[1, 2])
    with pytest.raises(ValueError, match="summary must be a dict or a list of"):
        text_report(tmp_path, {1.0: "x"}, summary=[1, 2])


def test_reports_leave_pyplot_alone(tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    backend, figures = matplotlib.get_backend(), plt.get_fignums()
    regression_report(tmp_path, [0.0, 1.0, 2.0], [0.1, 0.9, 2.2], history={"loss": [1.0, 0.5]})
    assert matplotlib.get_backend() == backend
    assert plt.get_fignums() == figures
