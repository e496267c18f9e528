"""keras-tuner hypermodels."""

__all__ = []
