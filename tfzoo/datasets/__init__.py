"""Data loaders and generators (no download in tests)."""

from tfzoo.datasets.tabular import load_pathology

__all__ = ["load_pathology"]
