"""Distribution strategies and device placement."""

from tfzoo.distribute.strategy import get_strategy

__all__ = ["get_strategy"]
