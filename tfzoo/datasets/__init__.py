"""Data loaders and generators (no download in tests)."""

from tfzoo.datasets.images import load_digits_images, load_mnist, read_idx
from tfzoo.datasets.series import (
    load_sunspots,
    make_driving_sequences,
    make_price_series,
    make_seasonal_series,
    make_windows,
)
from tfzoo.datasets.tabular import load_pathology
from tfzoo.datasets.text import load_text

__all__ = [
    "load_digits_images",
    "load_mnist",
    "load_pathology",
    "load_sunspots",
    "load_text",
    "make_driving_sequences",
    "make_price_series",
    "make_seasonal_series",
    "make_windows",
    "read_idx",
]
