"""A study's settings: fixed when it is created, journaled in StudyCreated."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from tunefleet.core import distributions as dists
from tunefleet.core.distributions import Distribution
from tunefleet.errors import ConfigError


class Direction(enum.Enum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"

    @classmethod
    def parse(cls, text: str) -> Direction:
        try:
            return cls(str(text).lower())
        except ValueError:
            raise ConfigError(
                f"direction must be 'minimize' or 'maximize', got {text!r}"
            ) from None


@dataclass(frozen=True)
class PluginSpec:
    """A sampler or pruner by registry name, with its keyword options."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PluginSpec:
        return cls(name=str(d["name"]), options=dict(d.get("options") or {}))


@dataclass(frozen=True)
class StudySettings:
    directions: tuple[Direction, ...] = (Direction.MINIMIZE,)
    sampler: PluginSpec = PluginSpec("tpe")
    pruner: PluginSpec = PluginSpec("nop")
    space: dict[str, Distribution] | None = None  # a static space (spec files, commands)
    n_trials: int | None = None  # trials to start, retries and added trials not counted
    max_concurrent: int | None = None
    max_retry: int = 0  # retries of the user's failures (error, nan, timeout)
    retry_lost: bool = True  # retry preempted and lost trials, without spending max_retry
    lease_seconds: float = 60.0  # a RUNNING trial with no heartbeat this long is lost
    objective: dict[str, Any] | None = None  # for workers: {"function": "mod:fn", "path": dir}

    def __post_init__(self) -> None:
        if not self.directions:
            raise ConfigError("a study needs at least one direction")
        if self.n_trials is not None and self.n_trials < 0:
            raise ConfigError(f"n_trials must be >= 0, got {self.n_trials}")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ConfigError(f"max_concurrent must be >= 1, got {self.max_concurrent}")
        if self.max_retry < 0:
            raise ConfigError(f"max_retry must be >= 0, got {self.max_retry}")
        if not self.lease_seconds > 0:
            raise ConfigError(f"lease_seconds must be > 0, got {self.lease_seconds}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "directions": [d.value for d in self.directions],
            "sampler": self.sampler.to_dict(),
            "pruner": self.pruner.to_dict(),
            "space": None
            if self.space is None
            else {k: dists.to_dict(v) for k, v in self.space.items()},
            "n_trials": self.n_trials,
            "max_concurrent": self.max_concurrent,
            "max_retry": self.max_retry,
            "retry_lost": self.retry_lost,
            "lease_seconds": self.lease_seconds,
            "objective": self.objective,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StudySettings:
        space = d.get("space")
        return cls(
            directions=tuple(Direction.parse(x) for x in d.get("directions", ["minimize"])),
            sampler=PluginSpec.from_dict(d.get("sampler") or {"name": "random"}),
            pruner=PluginSpec.from_dict(d.get("pruner") or {"name": "nop"}),
            space=None if space is None else {k: dists.from_dict(v) for k, v in space.items()},
            n_trials=d.get("n_trials"),
            max_concurrent=d.get("max_concurrent"),
            max_retry=int(d.get("max_retry", 0)),
            retry_lost=bool(d.get("retry_lost", True)),
            lease_seconds=float(d.get("lease_seconds", 60.0)),
            objective=d.get("objective"),
        )
