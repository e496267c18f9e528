"""Data loaders and generators (no download in tests)."""

__all__ = []
