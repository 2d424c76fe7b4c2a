"""HyperbandPruner: brackets of asynchronous successive halving, with Optuna's parameters."""

from __future__ import annotations

import math
import zlib

from tunefleet.core.history import StudyView
from tunefleet.core.study import PruneDecision
from tunefleet.core.trial import TrialRecord
from tunefleet.pruners.base import Pruner
from tunefleet.pruners.rungs import FirstComplete, Ladder, RungCache, sign_of
from tunefleet.pruners.successive_halving import check_min_resource, check_resources


class HyperbandPruner(Pruner):
    """Hyperband: Li et al., "Hyperband: A Novel Bandit-Based Approach to Hyperparameter
    Optimization", JMLR 18(185), 2018, run asynchronously as Optuna does: bracket ``b``
    is a SuccessiveHalvingPruner with ``min_early_stopping_rate = b``, and a trial only
    competes with trials of its own bracket.

    There are ``floor(log_eta(max_resource / min_resource)) + 1`` brackets (Optuna's
    formula; at least one). A trial's bracket is a function of its number and ``seed``
    alone, drawn with weights by bracket budget ``ceil(n_brackets * eta**s / (s + 1))``,
    ``s = n_brackets - 1 - b``: crc32 of ``f"{seed}_{number}"`` modulo the total budget,
    as Optuna does with its study name in place of ``seed``. So it is fixed when the trial
    starts and the same after a restart; ``bracket_of`` tells it to samplers.

    max_resource: "auto" takes the last step + 1 of the first trial to COMPLETE with
        reported values (the first in finishing order: the same after a restart; Optuna
        takes the largest among those complete when it first prunes). No pruning until then.

    Holds, as a cache rebuilt from the StudyView, each bracket's rungs (see ``rungs.py``).
    """

    def __init__(
        self,
        *,
        min_resource: int = 1,
        max_resource: str | int = "auto",
        reduction_factor: int = 3,
        bootstrap_count: int = 0,
        seed: int = 0,
    ) -> None:
        check_min_resource(min_resource, auto=False)
        check_resources(reduction_factor, bootstrap_count)
        if max_resource != "auto" and (
            isinstance(max_resource, bool) or not isinstance(max_resource, int) or max_resource < 1
        ):
            raise ValueError(f"max_resource must be an int >= 1 or 'auto', got {max_resource!r}")
        if bootstrap_count > 0 and max_resource == "auto":
            raise ValueError(
                "bootstrap_count > 0 needs a fixed max_resource, not 'auto' (as in Optuna)"
            )
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got {seed!r}")
        self.min_resource = min_resource
        self.max_resource = max_resource
        self.reduction_factor = reduction_factor
        self.bootstrap_count = bootstrap_count
        self.seed = seed
        self._first = FirstComplete()
        self._cache = RungCache()
        self._ladders: list[Ladder] = []  # one per bracket, once the brackets are known
        self._budgets: list[int] = []
        self._resource: int | None = None  # the max_resource the brackets were built for
        if isinstance(max_resource, int):
            self._build(max_resource)

    # ---- brackets ---------------------------------------------------------------------
    def _build(self, max_resource: int) -> None:
        eta = self.reduction_factor
        n = max(math.floor(math.log(max_resource / self.min_resource, eta)) + 1, 1)
        self._resource = max_resource
        self._budgets = [math.ceil(n * eta ** (n - 1 - b) / (n - b)) for b in range(n)]
        self._ladders = [
            Ladder(self.min_resource, eta, b, self.bootstrap_count) for b in range(n)
        ]
        self._cache.reset()

    def _brackets_for(self, view: StudyView | None) -> bool:
        """Whether the brackets are known (building them from ``view`` for "auto")."""
        if isinstance(self.max_resource, int) or view is None:
            return bool(self._ladders)
        last = self._first.find(view)
        if last is None:
            return False
        if self._resource != last + 1:
            self._build(last + 1)
        return True

    @property
    def budgets(self) -> tuple[int, ...]:
        """Each bracket's share of trials, by bracket (empty while "auto" has nothing to go on)."""
        return tuple(self._budgets)

    @property
    def n_brackets(self) -> int | None:
        """How many brackets there are (None while "auto" has nothing to go on)."""
        return len(self._ladders) or None

    def bracket_of(self, trial_number: int, view: StudyView | None = None) -> int:
        """The bracket of trial ``trial_number``; 0 while the brackets are not known yet
        (max_resource "auto" and no trial complete), as Optuna's. Give the study's
        ``view`` to settle "auto" from it."""
        if not self._brackets_for(view):
            return 0
        n = zlib.crc32(f"{self.seed}_{trial_number}".encode()) % sum(self._budgets)
        for bracket, budget in enumerate(self._budgets):
            n -= budget
            if n < 0:
                return bracket
        raise AssertionError("unreachable: the budgets add up to the modulus")

    def cohort(self, view: StudyView, number: int) -> int | None:
        """A trial's bracket, so that a sampler learns from the trials pruned by the same
        rule only, as Optuna's samplers do under Hyperband; None until "auto" is settled."""
        return self.bracket_of(number, view) if self._brackets_for(view) else None

    # ---- decisions --------------------------------------------------------------------
    def on_report(
        self, view: StudyView, trial: TrialRecord, step: int, value: float
    ) -> PruneDecision:
        if not self._brackets_for(view):
            return PruneDecision(False)
        ladders = self._ladders
        self._cache.sync(view, lambda number: ladders[self.bracket_of(number)], self._empty)
        decision = ladders[self.bracket_of(trial.number)].decide(trial, step, value, sign_of(view))
        self._cache.decided(trial.number, decision)
        return decision

    def _empty(self) -> None:
        for ladder in self._ladders:
            ladder.rungs.clear()
