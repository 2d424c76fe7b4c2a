"""The Pruner interface, and the warm-up/interval rule several pruners share.

``on_report`` sees the study (its StudyView), the trial with every value it has
reported so far, and the newest (step, value); it returns a PruneDecision, which
the coordinator journals as a fact. A pruner keeps no state that cannot be
rebuilt from the StudyView, and never writes to the study: after a restart the
pruner object is new, has seen no ``on_report`` call, and must decide exactly as
the one that ran all along (caches are rebuilt lazily from ``view.trials``).

``PruneDecision.next_step`` is the next step at which the answer could change, so
a worker may hold its reports until then; None means "any step" (report each one).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable

from tunefleet.core.history import StudyView
from tunefleet.core.study import PruneDecision
from tunefleet.core.trial import TrialRecord


class Pruner(abc.ABC):
    @abc.abstractmethod
    def on_report(
        self, view: StudyView, trial: TrialRecord, step: int, value: float
    ) -> PruneDecision:
        """Whether ``trial`` should stop now that it reported ``value`` at ``step``."""

    def cohort(self, view: StudyView, number: int) -> int | None:
        """The group of trials that trial ``number`` should be sampled from, when the pruner
        runs trials under different rules (Hyperband's brackets); None: the whole study."""
        return None


def next_check(step: int, n_warmup_steps: int, interval_steps: int) -> int:
    """The first step after ``step`` that starts an interval (``n_warmup_steps + k * interval``)."""
    base = max(step + 1, n_warmup_steps)
    k = -(-(base - n_warmup_steps) // interval_steps)
    return n_warmup_steps + k * interval_steps


def first_in_interval(step: int, steps: Iterable[int], n_warmup_steps: int, interval_steps: int) -> bool:
    """Whether ``step`` is the first reported step at or after the start of its interval.

    Optuna's rule: a trial that reports only odd steps is still checked once per
    interval, at its first report in it. ``steps`` are all the trial's reported steps.
    """
    start = (step - n_warmup_steps) // interval_steps * interval_steps + n_warmup_steps
    previous = max((s for s in steps if s != step), default=-1)
    return previous < start


def check_interval_options(n_warmup_steps: int, interval_steps: int) -> None:
    if n_warmup_steps < 0:
        raise ValueError(f"n_warmup_steps must be >= 0, got {n_warmup_steps}")
    if interval_steps < 1:
        raise ValueError(f"interval_steps must be >= 1, got {interval_steps}")
