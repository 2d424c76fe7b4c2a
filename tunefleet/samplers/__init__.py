"""Samplers, by registry name."""

from __future__ import annotations

from typing import Any

from tunefleet.registry import build
from tunefleet.samplers.base import Sampler
from tunefleet.samplers.cmaes import CmaEsSampler
from tunefleet.samplers.gp import GPSampler
from tunefleet.samplers.grid import GridSampler
from tunefleet.samplers.nsga2 import NSGAIISampler
from tunefleet.samplers.qmc import QMCSampler
from tunefleet.samplers.random import RandomSampler
from tunefleet.samplers.tpe import TPESampler

SAMPLERS: dict[str, type[Sampler]] = {
    "random": RandomSampler,
    "tpe": TPESampler,
    "qmc": QMCSampler,
    "grid": GridSampler,
    "cmaes": CmaEsSampler,
    "gp": GPSampler,
    "nsga2": NSGAIISampler,
}


def make_sampler(name: str, options: dict[str, Any] | None = None) -> Sampler:
    """The sampler ``name`` built with ``options``; ConfigError lists the known names."""
    return build("sampler", SAMPLERS, name, options or {})


__all__ = [
    "SAMPLERS",
    "CmaEsSampler",
    "GPSampler",
    "GridSampler",
    "NSGAIISampler",
    "QMCSampler",
    "RandomSampler",
    "Sampler",
    "TPESampler",
    "make_sampler",
]
