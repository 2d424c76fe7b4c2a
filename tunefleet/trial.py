"""Trials, under Optuna's module name: TrialState, FrozenTrial, Trial, FixedTrial, create_trial."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from tunefleet.core.distributions import Distribution, ParamValue, check_value
from tunefleet.core.trial import FailReason, FrozenTrial, TrialState
from tunefleet.worker.trial import FixedTrial, Trial


def create_trial(
    *,
    state: TrialState = TrialState.COMPLETE,
    value: float | None = None,
    values: Sequence[float] | None = None,
    params: Mapping[str, ParamValue] | None = None,
    distributions: Mapping[str, Distribution] | None = None,
    user_attrs: Mapping[str, Any] | None = None,
    intermediate_values: Mapping[int, float] | None = None,
    constraints: Sequence[float] | None = None,
) -> FrozenTrial:
    """A finished trial made by hand, for ``Study.add_trial`` (warm starts)."""
    if value is not None and values is not None:
        raise ValueError("give either value or values, not both")
    vals = (float(value),) if value is not None else (
        None if values is None else tuple(float(v) for v in values))
    if state == TrialState.COMPLETE and vals is None:
        raise ValueError("a COMPLETE trial needs value or values")
    params = dict(params or {})
    distributions = dict(distributions or {})
    if set(params) != set(distributions):
        raise ValueError("create_trial needs one distribution for each param")
    for name, dist in distributions.items():
        check_value(name, dist, params[name])
    now = time.time()
    return FrozenTrial(
        number=-1,
        state=state,
        values=vals,
        params=params,
        distributions=distributions,
        intermediate_values={int(k): float(v) for k, v in (intermediate_values or {}).items()},
        user_attrs=dict(user_attrs or {}),
        constraints=None if constraints is None else tuple(float(c) for c in constraints),
        worker=None,
        started_at=now,
        finished_at=now,
        reason=None,
        message=None,
        retry_of=None,
        attempt=0,
    )


__all__ = ["FailReason", "FixedTrial", "FrozenTrial", "Trial", "TrialState", "create_trial"]
