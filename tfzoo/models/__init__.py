"""Model builders: one ``build_*`` function per model, returning an uncompiled model."""

from tfzoo.models.linear_regression import (
    NormalEquationsSolution,
    NormalEquationStats,
    RankDeficientWarning,
    build_linear_regression,
    fit_normal_equations,
)
from tfzoo.models.perceptron import build_perceptron

__all__ = [
    "NormalEquationStats",
    "NormalEquationsSolution",
    "RankDeficientWarning",
    "build_linear_regression",
    "build_perceptron",
    "fit_normal_equations",
]
