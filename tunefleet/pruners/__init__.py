"""Pruners, by registry name."""

from __future__ import annotations

from typing import Any

from tunefleet.pruners.base import NopPruner, Pruner
from tunefleet.pruners.percentile import MedianPruner, PercentilePruner
from tunefleet.registry import build

PRUNERS: dict[str, type[Pruner]] = {
    "nop": NopPruner,
    "median": MedianPruner,
    "percentile": PercentilePruner,
}


def make_pruner(name: str, options: dict[str, Any] | None = None) -> Pruner:
    """The pruner ``name`` built with ``options``; ConfigError lists the known names."""
    return build("pruner", PRUNERS, name, options or {})


__all__ = ["PRUNERS", "MedianPruner", "NopPruner", "PercentilePruner", "Pruner", "make_pruner"]
