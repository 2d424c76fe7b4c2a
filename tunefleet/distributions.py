"""Distributions, under Optuna's module name (``tunefleet.distributions.FloatDistribution``)."""

from tunefleet.core.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
)

__all__ = ["CategoricalDistribution", "Distribution", "FloatDistribution", "IntDistribution"]
