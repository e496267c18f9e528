"""Data loaders and generators (no download in tests)."""

from tfzoo.datasets.coco import DetectionDataset, export_coco, load_coco, load_via
from tfzoo.datasets.detection_augmentation import DetectionAugmentation
from tfzoo.datasets.flights import make_flights
from tfzoo.datasets.images import load_digits_images, load_mnist, read_idx
from tfzoo.datasets.physics import incline_pulley_speed, make_incline_pulley
from tfzoo.datasets.ratings import make_ratings
from tfzoo.datasets.series import (
    load_sunspots,
    make_driving_sequences,
    make_price_series,
    make_sales_series,
    make_seasonal_series,
    make_windows,
)
from tfzoo.datasets.shapes import make_shapes
from tfzoo.datasets.steering import SteeringTrack, make_steering_data
from tfzoo.datasets.tabular import load_pathology
from tfzoo.datasets.text import load_text

__all__ = [
    "DetectionAugmentation",
    "DetectionDataset",
    "SteeringTrack",
    "export_coco",
    "incline_pulley_speed",
    "load_coco",
    "load_digits_images",
    "load_mnist",
    "load_pathology",
    "load_sunspots",
    "load_text",
    "load_via",
    "make_driving_sequences",
    "make_flights",
    "make_incline_pulley",
    "make_price_series",
    "make_sales_series",
    "make_ratings",
    "make_seasonal_series",
    "make_shapes",
    "make_steering_data",
    "make_windows",
    "read_idx",
]
