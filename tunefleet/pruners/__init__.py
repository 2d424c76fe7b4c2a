"""Pruners, by registry name (one module each; ``rungs`` and ``ranks`` are their helpers)."""

from __future__ import annotations

from typing import Any

from tunefleet.pruners.base import Pruner
from tunefleet.pruners.hyperband import HyperbandPruner
from tunefleet.pruners.nop import NopPruner
from tunefleet.pruners.patient import PatientPruner
from tunefleet.pruners.percentile import MedianPruner, PercentilePruner
from tunefleet.pruners.successive_halving import SuccessiveHalvingPruner
from tunefleet.pruners.threshold import ThresholdPruner
from tunefleet.registry import build

PRUNERS: dict[str, type[Pruner]] = {
    "nop": NopPruner,
    "median": MedianPruner,
    "percentile": PercentilePruner,
    "successive_halving": SuccessiveHalvingPruner,
    "asha": SuccessiveHalvingPruner,  # an alias: registry.spec_of names it "successive_halving"
    "hyperband": HyperbandPruner,
    "threshold": ThresholdPruner,
    "patient": PatientPruner,
}


def make_pruner(name: str, options: dict[str, Any] | None = None) -> Pruner:
    """The pruner ``name`` built with ``options``; ConfigError lists the known names."""
    return build("pruner", PRUNERS, name, options or {})


__all__ = [
    "PRUNERS",
    "HyperbandPruner",
    "MedianPruner",
    "NopPruner",
    "PatientPruner",
    "PercentilePruner",
    "Pruner",
    "SuccessiveHalvingPruner",
    "ThresholdPruner",
    "make_pruner",
]
