"""PercentilePruner and MedianPruner, with Optuna's parameters and decisions.

The percentile of the COMPLETE trials' values at a step is read from an order-
statistics structure per step (``ranks.Ranked``), fed from ``StudyView.step_values``
as trials complete: a decision costs O(log n), not a sort of n values. The result
is the one ``numpy.nanpercentile`` gives (its default "linear" method, reproduced
operation for operation), so decisions equal Optuna's bit for bit.
"""

from __future__ import annotations

import math

from tunefleet.core.history import StudyView
from tunefleet.core.settings import Direction
from tunefleet.core.study import PruneDecision
from tunefleet.core.trial import TrialRecord
from tunefleet.pruners.base import Pruner, check_interval_options, first_in_interval, next_check
from tunefleet.pruners.ranks import Ranked


class _Column:
    """The non-NaN values reported at one step by COMPLETE trials, and how many of
    ``view.step_values(step)`` (NaN included) have been folded in."""

    __slots__ = ("folded", "ranked")

    def __init__(self) -> None:
        self.folded = 0
        self.ranked = Ranked()


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's ``_lerp``: a + (b - a) t, computed from ``b`` when t >= 0.5."""
    diff = b - a
    if t >= 0.5:
        return b - diff * (1 - t)
    return a + diff * t


class PercentilePruner(Pruner):
    """Prune a trial whose best intermediate value so far is worse than the given
    percentile of the COMPLETE trials' values at the same step: the median stopping
    rule of Golovin et al., "Google Vizier: A Service for Black-Box Optimization",
    KDD 2017, generalized to any percentile as in Optuna.

    percentile: in [0, 100]; for maximizing studies the (100 - percentile)-th is used.
    n_startup_trials: no pruning until this many trials have completed.
    n_warmup_steps: no pruning before this step.
    interval_steps: decide only at the first report in each interval after the warm-up.
    n_min_trials: the fewest COMPLETE trials that must have reported at the step.

    Holds, as a cache, one order-statistics column per step it was asked about.
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
        if n_startup_trials < 0:
            raise ValueError(f"n_startup_trials must be >= 0, got {n_startup_trials}")
        check_interval_options(n_warmup_steps, interval_steps)
        if n_min_trials < 1:
            raise ValueError(f"n_min_trials must be >= 1, got {n_min_trials}")
        self.percentile = percentile
        self.n_startup_trials = n_startup_trials
        self.n_warmup_steps = n_warmup_steps
        self.interval_steps = interval_steps
        self.n_min_trials = n_min_trials
        self._view: StudyView | None = None
        self._columns: dict[int, _Column] = {}

    def on_report(
        self, view: StudyView, trial: TrialRecord, step: int, value: float
    ) -> PruneDecision:
        nxt = next_check(step, self.n_warmup_steps, self.interval_steps)
        if view.n_complete == 0 or view.n_complete < self.n_startup_trials:
            return PruneDecision(False, next_step=nxt)
        if step < self.n_warmup_steps:
            return PruneDecision(False, next_step=nxt)
        if not first_in_interval(step, trial.intermediate, self.n_warmup_steps, self.interval_steps):
            return PruneDecision(False, next_step=nxt)
        maximize = view.directions[0] == Direction.MAXIMIZE
        mine = [v for v in trial.intermediate.values() if not math.isnan(v)]
        if not mine:
            return PruneDecision(True)  # only NaN so far: nothing to keep going for
        best = max(mine) if maximize else min(mine)
        cut = self._cut(view, step, 100.0 - self.percentile if maximize else self.percentile)
        if math.isnan(cut):
            return PruneDecision(False, next_step=nxt)
        worse = best < cut if maximize else best > cut
        return PruneDecision(True) if worse else PruneDecision(False, next_step=nxt)

    def _cut(self, view: StudyView, step: int, percentile: float) -> float:
        """``numpy.nanpercentile`` of the COMPLETE trials' values at ``step``; NaN when
        fewer than ``n_min_trials`` reported there or none of them is a number."""
        if view is not self._view:  # another study (or a test's new view): start over
            self._view, self._columns = view, {}
        values = view.step_values(step)
        if len(values) < self.n_min_trials:
            return math.nan
        col = self._columns.get(step)
        if col is None:
            col = self._columns[step] = _Column()
        for v in values[col.folded:]:
            if not math.isnan(v):
                col.ranked.add(v)
        col.folded = len(values)
        m = len(col.ranked)
        if m == 0:
            return math.nan
        virtual = (m - 1) * (percentile / 100)
        if virtual >= m - 1:  # numpy takes the largest value, with gamma = virtual + 1
            top = col.ranked.kth(m - 1)
            return _lerp(top, top, virtual + 1.0)
        lo = math.floor(virtual)
        a, b = col.ranked.kth_pair(lo)
        return _lerp(a, b, virtual - lo)


class MedianPruner(PercentilePruner):
    """PercentilePruner at the 50th percentile (Optuna's default pruner): the median
    stopping rule of Golovin et al., "Google Vizier", KDD 2017."""

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
