"""ThresholdPruner: stop a trial whose newest value leaves a band, or is NaN."""

from __future__ import annotations

import math

from tunefleet.core.history import StudyView
from tunefleet.core.study import PruneDecision
from tunefleet.core.trial import TrialRecord
from tunefleet.pruners.base import Pruner, check_interval_options, first_in_interval, next_check


def _bound(name: str, x: float | None) -> float | None:
    if x is None:
        return None
    if isinstance(x, bool):
        raise ValueError(f"{name} must be a number or None, got {x!r}")
    try:
        out = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or None, got {x!r}") from None
    if math.isnan(out):
        raise ValueError(f"{name} cannot be NaN")
    return out


class ThresholdPruner(Pruner):
    """Prune a trial whose newest intermediate value is below ``lower``, above ``upper``
    or NaN: Optuna's ThresholdPruner (a plain rule, no paper).

    With neither bound given it prunes NaN only (Optuna refuses to be built so; we allow
    it, which also lets every registered pruner build with its defaults).
    n_warmup_steps: no pruning before this step.
    interval_steps: decide only at the first report in each interval after the warm-up.

    Holds nothing but its options: a decision reads only the trial's own values.
    """

    def __init__(
        self,
        *,
        lower: float | None = None,
        upper: float | None = None,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
    ) -> None:
        lo, hi = _bound("lower", lower), _bound("upper", upper)
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"lower must be <= upper, got lower={lo} and upper={hi}")
        check_interval_options(n_warmup_steps, interval_steps)
        self.lower = lo
        self.upper = hi
        self.n_warmup_steps = n_warmup_steps
        self.interval_steps = interval_steps

    def on_report(
        self, view: StudyView, trial: TrialRecord, step: int, value: float
    ) -> PruneDecision:
        nxt = next_check(step, self.n_warmup_steps, self.interval_steps)
        if step < self.n_warmup_steps:
            return PruneDecision(False, next_step=nxt)
        if not first_in_interval(step, trial.intermediate, self.n_warmup_steps, self.interval_steps):
            return PruneDecision(False, next_step=nxt)
        out = (
            math.isnan(value)
            or (self.lower is not None and value < self.lower)
            or (self.upper is not None and value > self.upper)
        )
        return PruneDecision(True) if out else PruneDecision(False, next_step=nxt)
