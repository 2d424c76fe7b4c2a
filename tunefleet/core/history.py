"""StudyView: the samplers' and pruners' read-only window on a study.

Finished trials are kept as numpy columns (one per param, held in its internal
float form, NaN where a trial did not use it; one per objective), appended to as
trials finish, so a sampler never rebuilds the history from records on an ask.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tunefleet.core.distributions import Distribution
from tunefleet.core.settings import Direction
from tunefleet.core.trial import TrialRecord, TrialState

_START = 64


def _no_cohort(number: int) -> int | None:
    return None


class StudyView:
    def __init__(self, directions: Sequence[Direction]) -> None:
        self.directions: tuple[Direction, ...] = tuple(directions)
        self.trials: list[TrialRecord] = []  # every trial, by number; do not mutate
        self.running: dict[int, TrialRecord] = {}
        self._n = 0
        self._cap = _START
        self._numbers = np.empty(_START, dtype=np.int64)
        self._states = np.empty(_START, dtype=np.int8)
        self._values = np.full((_START, len(self.directions)), np.nan)
        self._params: dict[str, np.ndarray] = {}
        self._dists: dict[str, Distribution] = {}
        self._since: dict[str, int] = {}
        self._intersection: dict[str, Distribution] | None = None
        self._by_step: dict[int, list[float]] = {}
        self.n_complete = 0
        # The cohort of a trial (set by the Study from its pruner: Hyperband's bracket):
        # samplers that honour it learn only from trials of the asking trial's cohort.
        self.cohort_of: Callable[[int], int | None] = _no_cohort

    # ---- columns of finished trials -------------------------------------------------
    @property
    def n_finished(self) -> int:
        return self._n

    def numbers(self) -> np.ndarray:
        return self._numbers[: self._n]

    def states(self) -> np.ndarray:
        return self._states[: self._n]

    def values(self) -> np.ndarray:
        """(n_finished, n_objectives); NaN for trials that did not COMPLETE."""
        return self._values[: self._n]

    def param(self, name: str) -> np.ndarray:
        """Internal values of ``name`` for finished trials; NaN where it was not used."""
        col = self._params.get(name)
        if col is None:
            return np.full(self._n, np.nan)
        return col[: self._n]

    def distribution(self, name: str) -> Distribution | None:
        """The distribution the latest finished trial that used ``name`` drew it from."""
        return self._dists.get(name)

    def distribution_since(self, name: str) -> int:
        """The finished index from which every trial that used ``name`` drew it from
        ``distribution(name)`` (n_finished if no trial used it)."""
        return self._since.get(name, self._n)

    def intersection_space(self) -> dict[str, Distribution]:
        """The params every COMPLETE trial used, with one distribution each."""
        return dict(self._intersection or {})

    def step_values(self, step: int) -> list[float]:
        """Intermediate values at ``step`` of the COMPLETE trials."""
        return self._by_step.get(step, [])

    # ---- kept up to date by Study.apply ---------------------------------------------
    def add_trial(self, record: TrialRecord) -> None:
        assert record.number == len(self.trials)
        self.trials.append(record)

    def started(self, record: TrialRecord) -> None:
        self.running[record.number] = record

    def finished(self, record: TrialRecord) -> None:
        self.running.pop(record.number, None)
        if self._n == self._cap:
            self._grow()
        i = self._n
        self._numbers[i] = record.number
        self._states[i] = int(record.state)
        if record.state == TrialState.COMPLETE and record.values is not None:
            self._values[i] = record.values
        for name, dist in record.distributions.items():
            col = self._params.get(name)
            if col is None:
                col = self._params[name] = np.full(self._cap, np.nan)
            col[i] = dist.to_internal(record.params[name])
            kept = self._dists.get(name)
            if kept is not dist and kept != dist:
                self._dists[name] = dist
                self._since[name] = i
        self._n += 1
        if record.state == TrialState.COMPLETE:
            self.n_complete += 1
            self._narrow(record.distributions)
            for step, v in record.intermediate.items():
                self._by_step.setdefault(step, []).append(v)

    def _narrow(self, used: dict[str, Distribution]) -> None:
        if self._intersection is None:
            self._intersection = dict(used)
            return
        self._intersection = {
            k: d for k, d in self._intersection.items() if used.get(k) == d
        }

    def _grow(self) -> None:
        cap = self._cap * 2
        self._numbers = np.resize(self._numbers, cap)
        self._states = np.resize(self._states, cap)
        values = np.full((cap, len(self.directions)), np.nan)
        values[: self._cap] = self._values
        self._values = values
        for name, col in self._params.items():
            new = np.full(cap, np.nan)
            new[: self._cap] = col
            self._params[name] = new
        self._cap = cap
