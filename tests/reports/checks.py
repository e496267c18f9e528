"""What every report page must show in a real browser (used by tests/reports and the recipes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

DATA = "JSON.parse(document.getElementById('report-data').text)"
SET_THRESHOLD = """(() => {
  const s = document.getElementById('score-threshold');
  s.value = '%s';
  s.dispatchEvent(new Event('input', {bubbles: true}));
  return Number(document.getElementById('shown-count').dataset.count);
})()"""


def count(browser, selector):
    return int(browser.evaluate(f"document.querySelectorAll({selector!r}).length"))


def shown_detections(browser, threshold):
    return int(browser.evaluate(SET_THRESHOLD % threshold))


def assert_not_blank(png):
    """The screenshot has content: many distinct colours, not one flat page."""
    from PIL import Image

    with Image.open(png) as image:
        small = image.convert("RGB").reduce(4)
    colours = small.getcolors(maxcolors=1 << 16)
    distinct = len(colours) if colours is not None else 1 << 16
    assert distinct > 20, f"{png} looks blank ({distinct} colours)"


def check_page(browser, index, screenshot):
    """Load ``index`` from disk; no console error, no request off the machine, no broken image.

    Checks the parts every report has (results table or its note, training curves or its
    note), then those of its kind; returns the kind. Saves a full-page screenshot.
    """
    index = Path(index)
    assert index.name == "index.html" and index.exists(), index
    problems = browser.open(index.resolve().as_uri())
    assert problems == [], problems
    broken = browser.evaluate(
        "Array.from(document.images).filter(i => i.complete && !i.naturalWidth).map(i => i.src)"
    )
    assert broken == [], f"images that did not load: {broken}"
    text = browser.evaluate("document.body.innerText")
    assert len(text) > 100, f"page nearly empty: {text!r}"
    assert browser.evaluate("!!document.querySelector('#summary')")
    assert browser.evaluate("!!document.querySelector('#training img, #training .empty')")
    kind = browser.evaluate("document.body.dataset.kind")
    if kind == "detection":
        check_detection(browser)
    elif kind == "classification":
        check_classification(browser)
    elif kind == "regression":
        assert count(browser, "#regression-scores tbody tr") >= 1
        assert count(browser, "#predictions img") == 2
    elif kind == "text":
        assert count(browser, "#text-samples .sample pre") >= 1
    else:
        raise AssertionError(f"unknown report kind {kind!r}")
    browser.screenshot(screenshot)
    assert_not_blank(screenshot)
    return kind


def check_detection(browser):
    n_images = browser.evaluate(DATA + ".images.length")
    assert count(browser, "#grid .card img[loading=lazy]") == n_images > 0
    assert int(browser.evaluate("document.getElementById('image-count').textContent")) == n_images
    n_classes = browser.evaluate(DATA + ".classNames.length - 1")
    assert count(browser, "#class-filter input[type=checkbox]") == n_classes
    assert browser.evaluate("!!document.querySelector('#coco-metrics, #metrics .empty')")
    total = browser.evaluate(DATA + ".images.reduce((a, r) => a + r.d.length, 0)")
    start = browser.evaluate("document.getElementById('score-threshold').value")
    everything = shown_detections(browser, 0)
    assert everything == total
    if total:
        top = browser.evaluate(
            "Math.max(...JSON.parse(document.getElementById('report-data').text).images"
            ".flatMap(r => r.d.map(d => d[1])))"
        )
        assert shown_detections(browser, min(1.0, top + 0.01)) == 0 < everything
        # unticking every class hides every detection
        hidden = browser.evaluate(
            """(() => {
              document.getElementById('score-threshold').value = '0';
              document.querySelectorAll('#class-filter input').forEach(b => {
                b.checked = false; b.dispatchEvent(new Event('change')); });
              const n = Number(document.getElementById('shown-count').dataset.count);
              document.querySelectorAll('#class-filter input').forEach(b => {
                b.checked = true; b.dispatchEvent(new Event('change')); });
              return n; })()"""
        )
        assert hidden == 0
    else:
        assert browser.evaluate("!!document.getElementById('no-detections')")
    shown_detections(browser, start)
    # the full-size view of the first image lists each of its detections
    expected = browser.evaluate(DATA + ".images[0].d.length")
    browser.evaluate("document.querySelector('#grid .card').click()")
    assert browser.evaluate("!document.getElementById('viewer').hidden")
    rows = count(browser, "#viewer-panel .side:first-child tbody tr")
    assert rows == max(expected, 1)
    browser.evaluate("document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}))")
    assert browser.evaluate("document.getElementById('viewer').hidden")


def check_classification(browser):
    n_classes = browser.evaluate(DATA + ".classNames.length")
    assert count(browser, "#confusion-matrix td.cell") == n_classes**2
    assert count(browser, "#per-class-scores tbody tr") == n_classes
    cells = browser.evaluate(
        "Array.from(document.querySelectorAll('#confusion-matrix td.cell'))"
        ".map(c => Number(c.textContent))"
    )
    assert sum(cells) == browser.evaluate(DATA + ".samples.length")
    busiest = int(np.argmax(cells))
    browser.evaluate(f"document.querySelectorAll('#confusion-matrix td.cell')[{busiest}].click()")
    assert count(browser, "#cell-grid .card") == min(cells[busiest], 300)
