"""THE trial state machine: states, the allowed moves, and the trial record.

    WAITING ──ask──▶ RUNNING ──tell──▶ COMPLETE | PRUNED | FAIL
                        └──lease lapsed──▶ FAIL (reason "lost")

A finished trial never changes again. ``move`` is the only place a state changes.
"""

from __future__ import annotations

import datetime as _dt
import enum
from dataclasses import dataclass, field
from typing import Any

from tunefleet.core.distributions import Distribution, ParamValue
from tunefleet.errors import IllegalMove


class TrialState(enum.IntEnum):
    """Optuna's states and codes, so exported journals read the same."""

    RUNNING = 0
    COMPLETE = 1
    PRUNED = 2
    FAIL = 3
    WAITING = 4

    def is_finished(self) -> bool:
        return self in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


class FailReason(enum.Enum):
    """Why a trial FAILed. ``preempted`` and ``lost`` are not the user's fault."""

    PREEMPTED = "preempted"  # SIGTERM to the worker (scancel, pod termination, Ctrl-C)
    LOST = "lost"  # the lease lapsed: no heartbeat within the grace period
    TIMEOUT = "timeout"
    ERROR = "error"  # the objective raised, or the program exited non-zero
    NAN = "nan"  # the objective returned NaN

    @property
    def is_users_fault(self) -> bool:
        return self in (FailReason.TIMEOUT, FailReason.ERROR, FailReason.NAN)


ALLOWED: frozenset[tuple[TrialState, TrialState]] = frozenset(
    {
        (TrialState.WAITING, TrialState.RUNNING),
        (TrialState.RUNNING, TrialState.COMPLETE),
        (TrialState.RUNNING, TrialState.PRUNED),
        (TrialState.RUNNING, TrialState.FAIL),
    }
)


def move(record: TrialRecord, to: TrialState) -> None:
    """Change ``record``'s state, or raise IllegalMove if the table does not allow it."""
    if (record.state, to) not in ALLOWED:
        raise IllegalMove(
            f"trial {record.number} cannot move from {record.state.name} to {to.name}"
        )
    record.state = to


@dataclass
class TrialRecord:
    """A trial as the study holds it. Changed only by ``Study.apply``."""

    number: int
    state: TrialState
    params: dict[str, ParamValue] = field(default_factory=dict)
    distributions: dict[str, Distribution] = field(default_factory=dict)
    values: tuple[float, ...] | None = None
    intermediate: dict[int, float] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    constraints: tuple[float, ...] | None = None
    worker: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    reason: FailReason | None = None
    message: str | None = None
    retry_of: int | None = None
    attempt: int = 0
    late_tells: int = 0
    rung: int | None = None  # rungs completed: its value stands in rungs 0..rung-1
    # How many trials of the study had finished when this one was handed out (an added
    # trial: when it was added, so it counts as asked and told at once): with the view's
    # finishing order, samplers that work in generations (CMA-ES, NSGA-II) replay what
    # they knew at each ask from the view alone.
    seen_finished: int = 0


@dataclass(frozen=True)
class FrozenTrial:
    """A read-only snapshot of a trial, with Optuna's attribute names."""

    number: int
    state: TrialState
    values: tuple[float, ...] | None
    params: dict[str, ParamValue]
    distributions: dict[str, Distribution]
    intermediate_values: dict[int, float]
    user_attrs: dict[str, Any]
    constraints: tuple[float, ...] | None
    worker: str | None
    started_at: float | None
    finished_at: float | None
    reason: FailReason | None
    message: str | None
    retry_of: int | None
    attempt: int

    @classmethod
    def of(cls, r: TrialRecord) -> FrozenTrial:
        return cls(
            number=r.number,
            state=r.state,
            values=r.values,
            params=dict(r.params),
            distributions=dict(r.distributions),
            intermediate_values=dict(r.intermediate),
            user_attrs=dict(r.user_attrs),
            constraints=r.constraints,
            worker=r.worker,
            started_at=r.started_at,
            finished_at=r.finished_at,
            reason=r.reason,
            message=r.message,
            retry_of=r.retry_of,
            attempt=r.attempt,
        )

    @property
    def value(self) -> float | None:
        if self.values is None:
            return None
        if len(self.values) != 1:
            raise RuntimeError(
                f"trial {self.number} has {len(self.values)} objective values; use .values"
            )
        return self.values[0]

    @property
    def last_step(self) -> int | None:
        return max(self.intermediate_values) if self.intermediate_values else None

    @property
    def datetime_start(self) -> _dt.datetime | None:
        return _stamp(self.started_at)

    @property
    def datetime_complete(self) -> _dt.datetime | None:
        return _stamp(self.finished_at)

    @property
    def duration(self) -> _dt.timedelta | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return _dt.timedelta(seconds=self.finished_at - self.started_at)


def _stamp(t: float | None) -> _dt.datetime | None:
    return None if t is None else _dt.datetime.fromtimestamp(t)
