"""Closed-form solvers: the normal equations of linear regression."""

from tfzoo.solvers.normal_equations import (
    NormalEquationsSolution,
    NormalEquationStats,
    RankDeficientWarning,
    find_linear_layer,
    normal_equation_stats,
    power_of_two_scale,
)

__all__ = [
    "NormalEquationStats",
    "NormalEquationsSolution",
    "RankDeficientWarning",
    "find_linear_layer",
    "normal_equation_stats",
    "power_of_two_scale",
]
