"""Browsable HTML reports of a fitted model's results (``pip install "tfzoo[recipes]"``).

Each function writes one self-contained static page, ``index.html``, with its pictures
beside it in ``images/``: styles and script are inlined from the package (no server, no
internet, no CDN), so the page works opened from disk (``file://``). Pictures come from
matplotlib or from the images themselves; every page has the results table (``summary=``)
and the training curves (the model's ``history_``, or ``history=``).

- :func:`detection_report`: an image grid with boxes and instance masks (toggles, a class
  filter, a score-threshold slider, a full-size view with every detection and the ground
  truth), COCO's metrics table and the AP of each class. Thumbnails load lazily, so a
  report of hundreds of images opens quickly.
- :func:`classification_report`: the confusion matrix (click a cell to see its samples),
  the most confident mistakes, precision and recall per class, the ROC or precision-recall
  curves.
- :func:`regression_report`: predicted vs actual, residuals, scores against a baseline and,
  for a forecast, the held-out series with the baseline.
- :func:`text_report`: samples at several temperatures and the validation curve.

Example:

>>> report = tfzoo.reports.classification_report(
...     "outputs/digits", y_test, clf.predict(X_test), proba=clf.predict_proba(X_test),
...     images=X_test, model=clf)  # doctest: +SKIP

An unfitted model raises scikit-learn's ``NotFittedError``; no samples or images, a
``ValueError``; detections with no instances give a page that says so.
"""

from tfzoo.reports.classification import classification_report
from tfzoo.reports.detection import detection_report
from tfzoo.reports.regression import regression_report, text_report

__all__ = ["classification_report", "detection_report", "regression_report", "text_report"]
