"""What a study command answers, and what samplers and pruners look like to the core."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Union

from tunefleet.core import events as ev
from tunefleet.core.distributions import Distribution, ParamValue
from tunefleet.core.history import StudyView
from tunefleet.core.trial import TrialRecord
from tunefleet.errors import TrialFinishedError


# ---- what samplers and pruners look like to the core ----------------------------------
class SamplerLike(Protocol):
    def infer_relative_search_space(
        self, view: StudyView, trial: TrialRecord
    ) -> dict[str, Distribution]: ...

    def sample_relative(
        self, view: StudyView, trial: TrialRecord, space: dict[str, Distribution]
    ) -> dict[str, ParamValue]: ...

    def sample_independent(
        self, view: StudyView, trial: TrialRecord, name: str, dist: Distribution
    ) -> ParamValue: ...

    def exhausted(self, view: StudyView) -> bool: ...


NEVER = 2**62  # a next_step no report reaches: hold every value until the tell


@dataclass(frozen=True)
class PruneDecision:
    """A pruner's answer to a report.

    next_step: the first step at which the decision could change (a worker holds the
    values reported before it and sends them then, or with the tell); None: any step
    could, so every report is sent; NEVER: no report can, so all travel with the tell.
    """

    prune: bool
    rung: int | None = None
    next_step: int | None = None


class PrunerLike(Protocol):
    def on_report(
        self, view: StudyView, trial: TrialRecord, step: int, value: float
    ) -> PruneDecision: ...

    def cohort(self, view: StudyView, number: int) -> int | None: ...


# ---- replies ----------------------------------------------------------------------
@dataclass(frozen=True)
class TrialAssigned:
    number: int
    params: dict[str, ParamValue]
    distributions: dict[str, Distribution]


@dataclass(frozen=True)
class Wait:
    retry_after: float


@dataclass(frozen=True)
class Done:
    reason: str


@dataclass(frozen=True)
class Suggested:
    value: ParamValue


@dataclass(frozen=True)
class PruneAnswer:
    prune: bool
    next_step: int | None = None


@dataclass(frozen=True)
class Accepted:
    number: int | None = None


@dataclass(frozen=True)
class Refused:
    code: str
    message: str


Reply = Union[TrialAssigned, Wait, Done, Suggested, PruneAnswer, Accepted, Refused]
Result = tuple[list[ev.Event], Reply]


def reply_of(event: ev.Event) -> Reply | None:
    """The answer a request got when it caused ``event`` (for idempotent replays)."""
    if isinstance(event, ev.TrialStarted):
        return TrialAssigned(event.number, dict(event.params), dict(event.distributions))
    if isinstance(event, ev.ParamSuggested):
        return Suggested(event.value)
    if isinstance(event, ev.IntermediateReported):
        return PruneAnswer(event.prune, event.next_step)
    if isinstance(event, (ev.TrialFinished, ev.TrialEnqueued, ev.TrialAdded)):
        return Accepted(event.number)
    if isinstance(event, (ev.StudyCreated, ev.StudyStopped, ev.BudgetSet, ev.PluginsSet)):
        return Accepted()
    if isinstance(event, ev.LateTellRecorded):
        return Refused(TrialFinishedError.code, _late_message(event.study, event.number))
    return None


def _late_message(study: str, number: int) -> str:
    return (
        f"trial {number} of study {study!r} had already ended when this tell arrived; "
        "the late result is noted on the trial and nothing else changed"
    )

