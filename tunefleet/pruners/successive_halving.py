"""SuccessiveHalvingPruner: asynchronous successive halving (ASHA), as Algorithm 1 of
the Optuna paper, with Optuna's parameters; its rungs live in ``rungs.py``."""

from __future__ import annotations

from tunefleet.core.history import StudyView
from tunefleet.core.study import PruneDecision
from tunefleet.core.trial import TrialRecord
from tunefleet.pruners.base import Pruner
from tunefleet.pruners.rungs import FirstComplete, Ladder, RungCache, sign_of


def check_resources(reduction_factor: int, bootstrap_count: int) -> None:
    if isinstance(reduction_factor, bool) or not isinstance(reduction_factor, int) or reduction_factor < 2:
        raise ValueError(f"reduction_factor must be an int >= 2, got {reduction_factor!r}")
    if isinstance(bootstrap_count, bool) or not isinstance(bootstrap_count, int) or bootstrap_count < 0:
        raise ValueError(f"bootstrap_count must be an int >= 0, got {bootstrap_count!r}")


def check_min_resource(min_resource: str | int, *, auto: bool) -> None:
    if isinstance(min_resource, str) and auto and min_resource == "auto":
        return
    if isinstance(min_resource, bool) or not isinstance(min_resource, int) or min_resource < 1:
        expected = "an int >= 1 or 'auto'" if auto else "an int >= 1"
        raise ValueError(f"min_resource must be {expected}, got {min_resource!r}")


class SuccessiveHalvingPruner(Pruner):
    """Asynchronous successive halving: Li et al., "A System for Massively Parallel
    Hyperparameter Tuning", MLSys 2020 (after Jamieson & Talwalkar, "Non-stochastic Best
    Arm Identification and Hyperparameter Optimization", AISTATS 2016), in the form of
    Algorithm 1 of Akiba et al., "Optuna: A Next-generation Hyperparameter Optimization
    Framework", KDD 2019: no repechage, and with fewer than eta trials in a rung only
    the best is promoted.

    A trial completes rung k at step ``min_resource * reduction_factor **
    (min_early_stopping_rate + k)``; it goes on only if its value there is within the
    best 1/reduction_factor of the values every trial had at that rung, else it is
    pruned. A NaN at a rung's step is pruned. The first ``bootstrap_count`` trials to
    reach a rung are pruned (no trial is promoted until that many have completed it).

    min_resource: "auto" estimates it as Optuna does, max(last_step // 100, 1), from the
        first trial to COMPLETE with reported values (the first in finishing order, so the
        estimate is the same after a restart; Optuna takes the largest last step among the
        trials complete when it first looks); no pruning until one has. A trial already
        past a rung's step then competes with its value at that step (Optuna: its newest).

    Decisions carry ``rung`` (how many rungs the trial has completed: the rung it was
    promoted to) and ``next_step`` (the step of its next rung). Holds, as a cache
    rebuilt from the StudyView, each rung's values in an order-statistics structure:
    a decision is O(log n) in the number of trials.
    """

    def __init__(
        self,
        *,
        min_resource: str | int = "auto",
        reduction_factor: int = 4,
        min_early_stopping_rate: int = 0,
        bootstrap_count: int = 0,
    ) -> None:
        check_min_resource(min_resource, auto=True)
        check_resources(reduction_factor, bootstrap_count)
        if (
            isinstance(min_early_stopping_rate, bool)
            or not isinstance(min_early_stopping_rate, int)
            or min_early_stopping_rate < 0
        ):
            raise ValueError(
                f"min_early_stopping_rate must be an int >= 0, got {min_early_stopping_rate!r}"
            )
        if bootstrap_count > 0 and min_resource == "auto":
            raise ValueError(
                "bootstrap_count > 0 needs a fixed min_resource, not 'auto' (as in Optuna)"
            )
        self.min_resource = min_resource
        self.reduction_factor = reduction_factor
        self.min_early_stopping_rate = min_early_stopping_rate
        self.bootstrap_count = bootstrap_count
        self._ladder: Ladder | None = None
        self._first = FirstComplete()
        self._cache = RungCache()
        if isinstance(min_resource, int):
            self._ladder = self._new_ladder(min_resource)

    def _new_ladder(self, min_resource: int) -> Ladder:
        return Ladder(
            min_resource, self.reduction_factor, self.min_early_stopping_rate, self.bootstrap_count
        )

    def resolved_min_resource(self, view: StudyView) -> int | None:
        """The min_resource in use: the given one, or the "auto" estimate (None: not yet)."""
        if isinstance(self.min_resource, int):
            return self.min_resource
        last = self._first.find(view)
        return None if last is None else max(last // 100, 1)

    def _ladder_for(self, view: StudyView) -> Ladder | None:
        if isinstance(self.min_resource, int):
            return self._ladder
        r = self.resolved_min_resource(view)
        if r is None:
            return None
        if self._ladder is None or self._ladder.min_resource != r:
            self._ladder = self._new_ladder(r)
            self._cache.reset()
        return self._ladder

    def on_report(
        self, view: StudyView, trial: TrialRecord, step: int, value: float
    ) -> PruneDecision:
        ladder = self._ladder_for(view)
        if ladder is None:
            return PruneDecision(False)  # "auto", and no trial has completed yet
        self._cache.sync(view, lambda _number: ladder, lambda: self._empty(ladder))
        decision = ladder.decide(trial, step, value, sign_of(view))
        self._cache.decided(trial.number, decision)
        return decision

    @staticmethod
    def _empty(ladder: Ladder) -> None:
        ladder.rungs.clear()
