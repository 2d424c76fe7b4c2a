"""Reference pruners for the tests: the algorithms written down plainly, the way Optuna
runs them (each trial's completed-rung values kept beside it, every decision a scan of
every trial and a sort), so the fast pruners can be checked against them report by report."""

from __future__ import annotations

import dataclasses
import math
import zlib

from tests.unit.pruners.histories import Run
from tunefleet.core.study import PruneDecision
from tunefleet.core.trial import TrialRecord
from tunefleet.pruners.base import Pruner


class ReferenceASHA:
    """Algorithm 1 of the Optuna paper, line by line. ``attrs[number][k]`` is the value
    trial ``number`` had when it completed rung k (Optuna's ``completed_rung_k``)."""

    def __init__(
        self, min_resource: int, eta: int, rate: int = 0, bootstrap: int = 0, maximize: bool = False
    ) -> None:
        self.min_resource, self.eta, self.rate = min_resource, eta, rate
        self.bootstrap, self.maximize = bootstrap, maximize
        self.attrs: dict[int, dict[int, float]] = {}

    def prune(self, number: int, step: int, value: float) -> bool:
        mine = self.attrs.setdefault(number, {})
        rung = len(mine)
        while True:
            if step < self.min_resource * self.eta ** (self.rate + rung):
                return False
            if math.isnan(value):
                return True
            competing = [a[rung] for n, a in self.attrs.items() if n != number and rung in a]
            competing.append(value)
            mine[rung] = value
            if len(competing) <= self.bootstrap:
                return True
            i = max(len(competing) // self.eta - 1, 0)
            competing.sort()
            promoted = value >= competing[-(i + 1)] if self.maximize else value <= competing[i]
            if not promoted:
                return True
            rung += 1


class ReferenceHyperband:
    """Hyperband as Optuna's HyperbandPruner: brackets by crc32 of "{name}_{number}"
    weighted by budget, each bracket a ReferenceASHA over its own trials only."""

    def __init__(
        self, min_resource: int, max_resource: int, eta: int, name: str = "0", maximize: bool = False
    ) -> None:
        self.n = math.floor(math.log(max_resource / min_resource, eta)) + 1
        self.budgets = [math.ceil(self.n * eta ** (self.n - 1 - b) / (self.n - b)) for b in range(self.n)]
        self.name = name
        self.brackets = [ReferenceASHA(min_resource, eta, b, maximize=maximize) for b in range(self.n)]

    def bracket(self, number: int) -> int:
        n = zlib.crc32(f"{self.name}_{number}".encode()) % sum(self.budgets)
        for b, budget in enumerate(self.budgets):
            n -= budget
            if n < 0:
                return b
        raise AssertionError("unreachable")

    def prune(self, number: int, step: int, value: float) -> bool:
        return self.brackets[self.bracket(number)].prune(number, step, value)


def seen(run: Run, number: int, step: int, value: float) -> TrialRecord:
    """The trial as Study.report shows it to the pruner for a report of (step, value)."""
    record = run.study.trial(number)
    return dataclasses.replace(record, intermediate={**record.intermediate, step: value})


def fresh_decision(pruner: Pruner, run: Run, number: int, step: int, value: float) -> PruneDecision:
    """What a new ``pruner`` (as after a restart) decides on the run's history as it is now."""
    return pruner.on_report(run.study.view, seen(run, number, step, value), step, value)
