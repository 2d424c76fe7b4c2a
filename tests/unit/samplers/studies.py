"""Studies for sampler tests: driven through the real commands (ask, suggest, tell), no broker.

``Run.trial`` plays a worker: params pre-sampled at ask with the same distribution are
answered locally, any other ``suggest`` is a round trip to the study (and counted).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunefleet.core.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    ParamValue,
)
from tunefleet.core.replies import Done, Suggested, TrialAssigned
from tunefleet.core.settings import Direction, StudySettings
from tunefleet.core.study import Study
from tunefleet.core.trial import TrialState
from tunefleet.pruners import NopPruner
from tunefleet.samplers.base import Sampler


class Trial:
    """What an objective sees: suggest answers from the pre-sampled params when it can."""

    def __init__(self, run: Run, assigned: TrialAssigned) -> None:
        self.run = run
        self.number = assigned.number
        self.params: dict[str, ParamValue] = {}
        self.distributions: dict[str, Distribution] = {}
        self._given = dict(assigned.params)
        self._given_dists = dict(assigned.distributions)

    def suggest(self, name: str, dist: Distribution) -> Any:
        if name in self.params:
            return self.params[name]
        if self._given_dists.get(name) == dist:
            value = self._given[name]
        else:
            value = self.run.suggest(self.number, name, dist)
        self.params[name] = value
        self.distributions[name] = dist
        return value

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False,
                      step: float | None = None) -> float:
        return float(self.suggest(name, FloatDistribution(low, high, log=log, step=step)))

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False, step: int = 1) -> int:
        return int(self.suggest(name, IntDistribution(low, high, log=log, step=step)))

    def suggest_categorical(self, name: str, choices: Sequence[ParamValue]) -> Any:
        return self.suggest(name, CategoricalDistribution(tuple(choices)))


Objective = Callable[[Trial], Any]


@dataclass
class Run:
    """A study driven by hand, in-process, with a NopPruner and a clock that only moves on."""

    sampler: Sampler
    directions: Sequence[str] = ("minimize",)
    space: dict[str, Distribution] | None = None
    n_trials: int | None = None
    study: Study = field(init=False)
    round_trips: int = 0
    events: list[Any] = field(default_factory=list)  # every event, in order: what a journal holds
    _ids: Iterator[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        settings = StudySettings(
            directions=tuple(Direction(d) for d in self.directions), space=self.space,
            n_trials=self.n_trials,
        )
        self.study = Study("s", settings, self.sampler, NopPruner())

    def kw(self) -> dict[str, Any]:
        i = next(self._ids)
        return {"request_id": f"r{i}", "now": float(i)}

    def _do(self, result: tuple[list[Any], Any]) -> Any:
        self.events += result[0]
        return result[1]

    def ask(self) -> Trial:
        reply = self.ask_reply()
        assert isinstance(reply, TrialAssigned), reply
        return Trial(self, reply)

    def ask_reply(self) -> Any:
        return self._do(self.study.ask("w", **self.kw()))

    def suggest(self, number: int, name: str, dist: Distribution) -> Any:
        self.round_trips += 1
        reply = self._do(self.study.suggest(number, name, dist, **self.kw()))
        assert isinstance(reply, Suggested), reply
        return reply.value

    def tell(self, trial: Trial, values: Any, *, constraints: Sequence[float] | None = None,
             state: TrialState = TrialState.COMPLETE) -> None:
        self._do(self.study.tell(trial.number, state, values=values, params=trial.params,
                                 distributions=trial.distributions, constraints=constraints,
                                 **self.kw()))

    def trial(self, objective: Objective) -> tuple[Trial, Any]:
        """One whole trial: ask, run the objective, tell its value (or its (value, constraints))."""
        t = self.ask()
        return t, self._finish(t, objective(t))

    def _finish(self, t: Trial, out: Any) -> Any:
        if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], list):
            self.tell(t, out[0], constraints=out[1])
            return out[0]
        self.tell(t, out)
        return out

    def until_done(self, objective: Objective) -> None:
        """Run trials one by one until the study answers an ask with Done."""
        while True:
            reply = self.ask_reply()
            if isinstance(reply, Done):
                return
            assert isinstance(reply, TrialAssigned), reply
            t = Trial(self, reply)
            self._finish(t, objective(t))

    def optimize(self, objective: Objective, n: int) -> list[Any]:
        return [self.trial(objective)[1] for _ in range(n)]

    def batch(self, objective: Objective, k: int) -> list[Trial]:
        """Ask k trials before telling any (k workers at once), then tell them all."""
        trials = [self.ask() for _ in range(k)]
        outs = [objective(t) for t in trials]
        for t, out in zip(trials, outs, strict=True):
            self.tell(t, out)
        return trials

    def complete_values(self) -> list[float]:
        return [r.values[0] for r in self.study.trials if r.values is not None]


def sphere(names: Sequence[str], center: float = 0.3) -> Objective:
    """Sum of squares around ``center`` of floats in [-1, 1]."""
    return lambda t: sum((t.suggest_float(n, -1.0, 1.0) - center) ** 2 for n in names)


def unit_position(dist: Distribution, value: Any) -> float:
    """Where ``value`` sits in [0, 1] of its (log) range: for distances between points."""
    if isinstance(dist, CategoricalDistribution):
        return dist.to_internal(value) / max(1, len(dist.choices) - 1)
    lo, hi, x = float(dist.low), float(dist.high), float(value)
    if dist.log:
        lo, hi, x = math.log(lo), math.log(hi), math.log(x)
    return (x - lo) / (hi - lo)


def mean_pairwise_distance(points: np.ndarray) -> float:
    diff = points[:, None, :] - points[None, :, :]
    d = np.sqrt((diff**2).sum(axis=-1))
    n = len(points)
    return float(d.sum() / (n * (n - 1)))
