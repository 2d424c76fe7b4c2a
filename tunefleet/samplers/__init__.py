"""Samplers, by registry name."""

from __future__ import annotations

from typing import Any

from tunefleet.registry import build
from tunefleet.samplers.base import Sampler
from tunefleet.samplers.random import RandomSampler

SAMPLERS: dict[str, type[Sampler]] = {"random": RandomSampler}


def make_sampler(name: str, options: dict[str, Any] | None = None) -> Sampler:
    """The sampler ``name`` built with ``options``; ConfigError lists the known names."""
    return build("sampler", SAMPLERS, name, options or {})


__all__ = ["SAMPLERS", "RandomSampler", "Sampler", "make_sampler"]
