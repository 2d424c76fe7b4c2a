"""The best trial of a study (one objective) or its Pareto front (several)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from tunefleet.core.pareto import pareto_front
from tunefleet.core.settings import Direction
from tunefleet.core.trial import TrialRecord, TrialState


def _feasible(r: TrialRecord) -> bool:
    return r.constraints is None or all(c <= 0.0 for c in r.constraints)


def _signed(r: TrialRecord, directions: Sequence[Direction]) -> tuple[float, ...]:
    assert r.values is not None
    return tuple(v if d == Direction.MINIMIZE else -v for v, d in zip(r.values, directions, strict=False))


def best_trials(trials: Iterable[TrialRecord], directions: Sequence[Direction]) -> list[TrialRecord]:
    """One objective: the best COMPLETE feasible trial (earliest on ties), as a list of
    at most one. Several: the feasible Pareto front, by trial number."""
    done = [
        r for r in trials if r.state == TrialState.COMPLETE and r.values is not None and _feasible(r)
    ]
    if not done:
        return []
    if len(directions) == 1:
        return [min(done, key=lambda r: (_signed(r, directions)[0], r.number))]
    loss = np.array([_signed(r, directions) for r in done], dtype=float)
    on_front = pareto_front(loss)
    return sorted((r for r, on in zip(done, on_front, strict=True) if on), key=lambda r: r.number)
