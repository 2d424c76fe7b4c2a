"""The rungs of asynchronous successive halving, shared by its pruner and by Hyperband.

A trial completes rung k when it reports at or past the rung's step
``min_resource * eta ** (min_early_stopping_rate + k)``; its value there joins the
rung's competition (Optuna's ``completed_rung_k`` system attr), and it goes on
only if that value is within the best 1/eta of the rung's values.

What is journaled is ``TrialRecord.rung``: how many rungs the trial has completed,
so its value stands in rungs 0 .. rung-1 (for a trial that goes on, the rung it was
promoted to). The value a trial had at rung k is its value at the first step >= the
rung's step in reporting order (see ``value_from``): the step at which the rung was
decided. (A rung decided late, because min_resource "auto" was fixed after the trial
had passed the step or a PatientPruner asked later, holds the value at the rung's step
where Optuna ranks the newer one: the only place decisions can differ from Optuna's.)
So the rungs are a function of ``view.trials``, and ``RungCache`` keeps them
as a cache: rebuilt from every trial the first time it meets a view, then folding in
only the trials it has decided for since, from their records.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from tunefleet.core.history import StudyView
from tunefleet.core.settings import Direction
from tunefleet.core.study import PruneDecision
from tunefleet.core.trial import TrialRecord, TrialState
from tunefleet.pruners.ranks import Ranked


def value_from(intermediate: Mapping[int, float], at: int) -> float | None:
    """The value at the first step >= ``at`` in reporting order (None: no such step).

    A trial's values are kept in the order they were reported (replay keeps it), so
    this is the value the rung was decided on: with one step per report, Optuna's
    (its newest value when it first reached the rung), even for steps reported out of
    order; a worker holding reports sends a batch once it reaches the rung's step, so
    that step ends the batch; a later report, held value or tell changes nothing.
    """
    for s, v in intermediate.items():
        if s >= at:
            return v
    return None


class Ladder:
    """One successive-halving run: its rung steps and each rung's competing values.

    ``rungs[k]`` holds the values trials had when they completed rung k, negated
    for maximizing studies so that smaller is always better.
    """

    def __init__(
        self, min_resource: int, reduction_factor: int, min_early_stopping_rate: int, bootstrap_count: int
    ) -> None:
        self.min_resource = min_resource
        self.eta = reduction_factor
        self.rate = min_early_stopping_rate
        self.bootstrap_count = bootstrap_count
        self.rungs: list[Ranked] = []

    def step_of(self, rung: int) -> int:
        """The step at which a trial completes ``rung``."""
        return self.min_resource * self.eta ** (self.rate + rung)

    def _rung(self, k: int) -> Ranked:
        while len(self.rungs) <= k:
            self.rungs.append(Ranked())
        return self.rungs[k]

    def fold(self, intermediate: Mapping[int, float], start: int, stop: int, sign: float) -> None:
        """Add a trial's values at rungs ``start`` .. ``stop - 1`` (it completed them)."""
        for k in range(start, stop):
            v = value_from(intermediate, self.step_of(k))
            if v is not None and not math.isnan(v):
                self._rung(k).add(sign * v)

    def decide(self, trial: TrialRecord, step: int, value: float, sign: float) -> PruneDecision:
        """Algorithm 1 of the Optuna paper (as Optuna's SuccessiveHalvingPruner.prune)."""
        completed = trial.rung or 0
        while True:
            at = self.step_of(completed)
            if step < at:
                return PruneDecision(False, rung=completed or None, next_step=at)
            found = value_from(trial.intermediate, at)
            v = value if found is None else found  # None only if ``step`` was not in the trial
            if math.isnan(v):
                return PruneDecision(True, rung=completed or None)
            key = sign * v
            others = self._rung(completed)
            completed += 1  # the value now stands in this rung, promoted or not
            n = len(others) + 1  # the competing values include this trial's
            if n <= self.bootstrap_count:
                return PruneDecision(True, rung=completed)
            top = max(n // self.eta - 1, 0)  # the last promotable rank (the best if n < eta)
            if len(others) > top and others.kth(top) < key:
                return PruneDecision(True, rung=completed)


class RungCache:
    """Keeps ladders in step with a view's trials; what a pruner holds across calls.

    ``folded[number]`` is how many of trial ``number``'s rungs are in its ladder;
    ``pending`` the trials decided for since the last sync, folded in (from their
    records, once the decision is journaled on them) at the next call.
    """

    def __init__(self) -> None:
        self.view: StudyView | None = None
        self.folded: dict[int, int] = {}
        self.pending: list[int] = []

    def reset(self) -> None:
        self.view = None

    def sync(self, view: StudyView, ladder_of: Callable[[int], Ladder], fresh: Callable[[], None]) -> None:
        """Fold in what changed in ``view`` since the last call (everything, for a new view).

        ``fresh`` empties the ladders before a full rebuild.
        """
        if view is not self.view:
            fresh()
            self.view, self.folded = view, {}
            self.pending = [r.number for r in view.trials if r.rung]
        sign = sign_of(view)
        pending, self.pending = self.pending, []
        for number in pending:
            record = view.trials[number]
            have, want = self.folded.get(number, 0), record.rung or 0
            if want < have:  # a rung taken back (another pruner's history): rebuild it all
                self.view = None
                self.sync(view, ladder_of, fresh)
                return
            if want > have:
                ladder_of(number).fold(record.intermediate, have, want, sign)
                self.folded[number] = want

    def decided(self, number: int, decision: PruneDecision) -> None:
        if decision.rung:
            self.pending.append(number)


def sign_of(view: StudyView) -> float:
    return -1.0 if view.directions[0] == Direction.MAXIMIZE else 1.0


class FirstComplete:
    """Finds the first COMPLETE trial, in finishing order, that reported a value: what
    Optuna's "auto" resources are estimated from. Remembers how far it has looked."""

    def __init__(self) -> None:
        self.view: StudyView | None = None
        self.looked = 0
        self.last_step: int | None = None

    def find(self, view: StudyView) -> int | None:
        """That trial's last step, or None while there is no such trial."""
        if view is not self.view:
            self.view, self.looked, self.last_step = view, 0, None
        if self.last_step is not None or view.n_complete == 0:
            return self.last_step
        numbers, states = view.numbers(), view.states()
        complete = int(TrialState.COMPLETE)
        for i in range(self.looked, view.n_finished):
            if states[i] == complete:
                record = view.trials[int(numbers[i])]
                if record.intermediate:
                    self.last_step = max(record.intermediate)
                    break
        self.looked = view.n_finished
        return self.last_step
