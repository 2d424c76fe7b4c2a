"""PercentilePruner and MedianPruner, with Optuna's parameters and meaning."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from tunefleet.core.history import StudyView
from tunefleet.core.settings import Direction
from tunefleet.core.study import PruneDecision
from tunefleet.core.trial import TrialRecord
from tunefleet.pruners.base import Pruner


class PercentilePruner(Pruner):
    """Prune a trial whose best value so far is worse than the given percentile of
    the COMPLETE trials' values at the same step.

    n_startup_trials: no pruning until this many trials have completed.
    n_warmup_steps: no pruning before this step.
    interval_steps: decide only every this many steps after the warm-up.
    n_min_trials: the fewest trials that must have reported at the step.
    """

    def __init__(
        self,
        *,
        percentile: float = 50.0,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        n_min_trials: int = 1,
    ) -> None:
        if not 0.0 <= percentile <= 100.0:
            raise ValueError(f"percentile must be in [0, 100], got {percentile}")
        if n_startup_trials < 0 or n_warmup_steps < 0:
            raise ValueError("n_startup_trials and n_warmup_steps must be >= 0")
        if interval_steps < 1 or n_min_trials < 1:
            raise ValueError("interval_steps and n_min_trials must be >= 1")
        self.percentile = percentile
        self.n_startup_trials = n_startup_trials
        self.n_warmup_steps = n_warmup_steps
        self.interval_steps = interval_steps
        self.n_min_trials = n_min_trials

    def _next_check(self, step: int) -> int:
        base = max(step + 1, self.n_warmup_steps)
        k = -(-(base - self.n_warmup_steps) // self.interval_steps)
        return self.n_warmup_steps + k * self.interval_steps

    def _first_in_interval(self, step: int, steps: Iterable[int]) -> bool:
        """Whether ``step`` is the first reported step at or after its interval's start
        (Optuna's rule: a trial reporting only odd steps is still checked every interval)."""
        w, i = self.n_warmup_steps, self.interval_steps
        start = (step - w) // i * i + w
        previous = max((s for s in steps if s != step), default=-1)
        return previous < start

    def on_report(
        self, view: StudyView, trial: TrialRecord, step: int, value: float
    ) -> PruneDecision:
        nxt = self._next_check(step)
        if view.n_complete < self.n_startup_trials or step < self.n_warmup_steps:
            return PruneDecision(False, next_step=None)
        if not self._first_in_interval(step, trial.intermediate):
            return PruneDecision(False, next_step=nxt)
        others = view.step_values(step)
        if len(others) < self.n_min_trials:
            return PruneDecision(False, next_step=nxt)
        maximize = view.directions[0] == Direction.MAXIMIZE
        mine = [v for v in trial.intermediate.values() if not math.isnan(v)]
        if not mine:
            return PruneDecision(True)  # only NaN so far: nothing to keep going for
        best = max(mine) if maximize else min(mine)
        arr = np.asarray(others, dtype=float)
        if np.all(np.isnan(arr)):
            return PruneDecision(False, next_step=nxt)
        if maximize:
            cut = float(np.nanpercentile(arr, 100.0 - self.percentile))
            return PruneDecision(best < cut, next_step=nxt)
        cut = float(np.nanpercentile(arr, self.percentile))
        return PruneDecision(best > cut, next_step=nxt)


class MedianPruner(PercentilePruner):
    """PercentilePruner at the 50th percentile (Optuna's default pruner)."""

    def __init__(
        self,
        *,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        n_min_trials: int = 1,
    ) -> None:
        super().__init__(
            percentile=50.0,
            n_startup_trials=n_startup_trials,
            n_warmup_steps=n_warmup_steps,
            interval_steps=interval_steps,
            n_min_trials=n_min_trials,
        )
