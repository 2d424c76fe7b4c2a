"""Journal events: past-tense facts that record outcomes, each with a stable int code.

Replay applies them in order and never re-runs a sampler or a pruner. Every event
names its study, the request that caused it (``request_id``, None for the
coordinator's own decisions such as a lapsed lease) and when it happened (``at``).
``encode``/``decode`` turn them into plain data (for msgpack) and back.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

from tunefleet.core import distributions as dists
from tunefleet.core.distributions import Distribution, ParamValue
from tunefleet.core.settings import PluginSpec, StudySettings
from tunefleet.core.trial import FailReason, TrialState


@dataclass(frozen=True)
class StudyCreated:
    code: ClassVar[int] = 1
    study: str
    request_id: str | None
    at: float
    settings: StudySettings


@dataclass(frozen=True)
class TrialEnqueued:
    """A WAITING trial: enqueued by a user, or a retry of a failed trial."""

    code: ClassVar[int] = 2
    study: str
    request_id: str | None
    at: float
    number: int
    params: dict[str, ParamValue]
    distributions: dict[str, Distribution] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    retry_of: int | None = None
    attempt: int = 0


@dataclass(frozen=True)
class TrialStarted:
    """A trial handed to a worker, with the params sampled for it at ask."""

    code: ClassVar[int] = 3
    study: str
    request_id: str | None
    at: float
    number: int
    worker: str
    params: dict[str, ParamValue]
    distributions: dict[str, Distribution]


@dataclass(frozen=True)
class ParamSuggested:
    code: ClassVar[int] = 4
    study: str
    request_id: str | None
    at: float
    number: int
    name: str
    distribution: Distribution
    value: ParamValue


@dataclass(frozen=True)
class IntermediateReported:
    """Intermediate values by step, and the pruner's decision on them."""

    code: ClassVar[int] = 5
    study: str
    request_id: str | None
    at: float
    number: int
    values: dict[int, float]
    prune: bool
    next_step: int | None = None
    rung: int | None = None  # rungs completed (successive halving): value in rungs 0..rung-1


@dataclass(frozen=True)
class TrialFinished:
    code: ClassVar[int] = 6
    study: str
    request_id: str | None
    at: float
    number: int
    state: TrialState
    values: tuple[float, ...] | None
    params: dict[str, ParamValue]
    distributions: dict[str, Distribution]
    user_attrs: dict[str, Any] = field(default_factory=dict)
    constraints: tuple[float, ...] | None = None
    reason: FailReason | None = None
    message: str | None = None
    intermediate: dict[int, float] = field(default_factory=dict)  # reports sent with the tell


@dataclass(frozen=True)
class LeaseLapsed:
    """No heartbeat for a RUNNING trial within the grace period: it is FAIL, reason lost."""

    code: ClassVar[int] = 7
    study: str
    request_id: str | None
    at: float
    number: int
    worker: str | None


@dataclass(frozen=True)
class StudyStopped:
    code: ClassVar[int] = 8
    study: str
    request_id: str | None
    at: float


@dataclass(frozen=True)
class BudgetSet:
    """The study's trial budget changed (``n_trials`` None: unbounded)."""

    code: ClassVar[int] = 9
    study: str
    request_id: str | None
    at: float
    n_trials: int | None


@dataclass(frozen=True)
class PluginsSet:
    """The sampler and/or pruner used from now on (``load_study(..., sampler=...)``)."""

    code: ClassVar[int] = 12
    study: str
    request_id: str | None
    at: float
    sampler: PluginSpec | None = None
    pruner: PluginSpec | None = None


@dataclass(frozen=True)
class LateTellRecorded:
    """A tell for a trial that had already ended; kept on the record, changes nothing else."""

    code: ClassVar[int] = 10
    study: str
    request_id: str | None
    at: float
    number: int
    state: TrialState
    values: tuple[float, ...] | None


@dataclass(frozen=True)
class TrialAdded:
    """A finished trial brought in from elsewhere (``add_trial``); not part of the budget."""

    code: ClassVar[int] = 11
    study: str
    request_id: str | None
    at: float
    number: int
    state: TrialState
    values: tuple[float, ...] | None
    params: dict[str, ParamValue]
    distributions: dict[str, Distribution]
    intermediate: dict[int, float] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    constraints: tuple[float, ...] | None = None
    started_at: float | None = None


Event = Union[
    StudyCreated,
    TrialEnqueued,
    TrialStarted,
    ParamSuggested,
    IntermediateReported,
    TrialFinished,
    LeaseLapsed,
    StudyStopped,
    BudgetSet,
    LateTellRecorded,
    TrialAdded,
    PluginsSet,
]

BY_CODE: dict[int, type[Any]] = {
    cls.code: cls
    for cls in (
        StudyCreated,
        TrialEnqueued,
        TrialStarted,
        ParamSuggested,
        IntermediateReported,
        TrialFinished,
        LeaseLapsed,
        StudyStopped,
        BudgetSet,
        LateTellRecorded,
        TrialAdded,
        PluginsSet,
    )
}


def _plain(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "settings" or name in ("sampler", "pruner"):
        return value.to_dict()
    if name == "distributions":
        return {k: dists.to_dict(d) for k, d in value.items()}
    if name == "distribution":
        return dists.to_dict(value)
    if name == "state":
        return int(value)
    if name == "reason":
        return value.value
    if name in ("values", "constraints"):
        return list(value)
    if name == "intermediate":
        return {int(k): float(v) for k, v in value.items()}
    return value


def encode(event: Event) -> tuple[int, dict[str, Any]]:
    """(code, plain data) for the journal; the inverse of ``decode``."""
    body: dict[str, Any] = {}
    for f in dataclasses.fields(event):
        v = getattr(event, f.name)
        if isinstance(event, IntermediateReported) and f.name == "values":
            body[f.name] = {int(k): float(x) for k, x in v.items()}
        else:
            body[f.name] = _plain(f.name, v)
    return event.code, body


def _typed(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "settings":
        return StudySettings.from_dict(value)
    if name in ("sampler", "pruner"):
        return PluginSpec.from_dict(value)
    if name == "distributions":
        return {k: dists.from_dict(d) for k, d in value.items()}
    if name == "distribution":
        return dists.from_dict(value)
    if name == "state":
        return TrialState(value)
    if name == "reason":
        return FailReason(value)
    if name in ("values", "constraints"):
        return tuple(float(x) for x in value)
    if name == "intermediate":
        return {int(k): float(v) for k, v in value.items()}
    return value


def decode(code: int, body: dict[str, Any]) -> Event:
    cls = BY_CODE[code]
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in body:
            continue
        v = body[f.name]
        if cls is IntermediateReported and f.name == "values":
            kwargs[f.name] = {int(k): float(x) for k, x in v.items()}
        else:
            kwargs[f.name] = _typed(f.name, v)
    event: Event = cls(**kwargs)
    return event
