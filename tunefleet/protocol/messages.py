"""Every message of protocol version 1, one frozen pydantic model per kind.

Requests go from workers and clients to the coordinator; replies come back.
Both are discriminated on ``kind``, strict and closed (``extra="forbid"``), so a
message that does not match is rejected with a reason before anything uses it.
Distributions travel as plain maps (``{"type": "float", "low": ..}``).
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

PROTOCOL_VERSION: Final = 1

Name = Annotated[str, Field(min_length=1, max_length=200)]
RequestId = Annotated[str, Field(min_length=1, max_length=128)]
TrialNumber = Annotated[int, Field(ge=0)]
ParamValue = Union[StrictBool, StrictInt, StrictFloat, StrictStr, None]
Direction = Literal["minimize", "maximize"]
EndState = Literal["complete", "pruned", "fail"]
Reason = Literal["preempted", "lost", "timeout", "error", "nan"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class FloatDist(_Model):
    type: Literal["float"]
    low: float
    high: float
    log: bool = False
    step: float | None = None


class IntDist(_Model):
    type: Literal["int"]
    low: int
    high: int
    log: bool = False
    step: int = 1


class CategoricalDist(_Model):
    type: Literal["categorical"]
    choices: list[ParamValue] = Field(min_length=1)


WireDist = Annotated[FloatDist | IntDist | CategoricalDist, Field(discriminator="type")]


class Plugin(_Model):
    name: Name
    options: dict[str, Any] = Field(default_factory=dict)


def _minimize() -> list[Direction]:
    return ["minimize"]


class _Envelope(_Model):
    v: Literal[1] = PROTOCOL_VERSION
    request_id: RequestId
    study: Name


# ---- requests ------------------------------------------------------------------------
class CreateStudy(_Envelope):
    kind: Literal["create_study"] = "create_study"
    directions: list[Direction] = Field(default_factory=_minimize, min_length=1)
    sampler: Plugin = Plugin(name="tpe")
    pruner: Plugin = Plugin(name="nop")
    space: dict[str, WireDist] | None = None
    n_trials: Annotated[int, Field(ge=0)] | None = None
    max_concurrent: Annotated[int, Field(ge=1)] | None = None
    max_retry: Annotated[int, Field(ge=0)] = 0
    retry_lost: bool = True
    lease_seconds: Annotated[float, Field(gt=0)] = 60.0
    objective: dict[str, Any] | None = None
    load_if_exists: bool = False


class Ask(_Envelope):
    kind: Literal["ask"] = "ask"
    worker_id: Name


class Suggest(_Envelope):
    kind: Literal["suggest"] = "suggest"
    trial: TrialNumber
    name: Name
    distribution: WireDist


class Report(_Envelope):
    """Intermediate values: ``steps[i]`` has ``values[i]``."""

    kind: Literal["report"] = "report"
    trial: TrialNumber
    steps: list[Annotated[int, Field(ge=0)]] = Field(min_length=1)
    values: list[float] = Field(min_length=1)

    @model_validator(mode="after")
    def _paired(self) -> Report:
        if len(self.steps) != len(self.values):
            raise ValueError(f"{len(self.steps)} steps but {len(self.values)} values")
        return self


class Tell(_Envelope):
    kind: Literal["tell"] = "tell"
    trial: TrialNumber
    state: EndState
    values: list[float] | None = None
    params: dict[str, ParamValue] | None = None
    distributions: dict[str, WireDist] | None = None
    user_attrs: dict[str, Any] | None = None
    constraints: list[float] | None = None
    reason: Reason | None = None
    message: Annotated[str, Field(max_length=8192)] | None = None
    steps: list[Annotated[int, Field(ge=0)]] = Field(default_factory=list)
    intermediate: list[float] = Field(default_factory=list)  # reports held since the last reply

    @model_validator(mode="after")
    def _paired(self) -> Tell:
        if len(self.steps) != len(self.intermediate):
            raise ValueError(
                f"{len(self.steps)} steps but {len(self.intermediate)} intermediate values"
            )
        return self


class Heartbeat(_Envelope):
    kind: Literal["heartbeat"] = "heartbeat"
    worker_id: Name
    trials: list[TrialNumber] = Field(default_factory=list)


class Enqueue(_Envelope):
    kind: Literal["enqueue"] = "enqueue"
    params: dict[str, ParamValue]
    user_attrs: dict[str, Any] | None = None


class AddTrial(_Envelope):
    kind: Literal["add_trial"] = "add_trial"
    state: EndState
    values: list[float] | None = None
    params: dict[str, ParamValue] = Field(default_factory=dict)
    distributions: dict[str, WireDist] = Field(default_factory=dict)
    steps: list[Annotated[int, Field(ge=0)]] = Field(default_factory=list)
    intermediate: list[float] = Field(default_factory=list)
    user_attrs: dict[str, Any] | None = None
    constraints: list[float] | None = None
    started_at: float | None = None

    @model_validator(mode="after")
    def _paired(self) -> AddTrial:
        if len(self.steps) != len(self.intermediate):
            raise ValueError(
                f"{len(self.steps)} steps but {len(self.intermediate)} intermediate values"
            )
        return self


class Query(_Envelope):
    """Read a study: its settings and counts, its trials, its best, or one trial by number."""

    kind: Literal["query"] = "query"
    what: Literal["info", "trials", "best", "trial"]
    number: TrialNumber | None = None


class StopStudy(_Envelope):
    kind: Literal["stop_study"] = "stop_study"


class SetBudget(_Envelope):
    kind: Literal["set_budget"] = "set_budget"
    n_trials: Annotated[int, Field(ge=0)] | None


class Configure(_Envelope):
    """Use another sampler and/or pruner from now on."""

    kind: Literal["configure"] = "configure"
    sampler: Plugin | None = None
    pruner: Plugin | None = None


Request = Annotated[
    CreateStudy | Ask | Suggest | Report | Tell | Heartbeat | Enqueue | AddTrial | Query
    | StopStudy | SetBudget | Configure,
    Field(discriminator="kind"),
]


# ---- replies -------------------------------------------------------------------------
class TrialReply(_Envelope):
    kind: Literal["trial"] = "trial"
    number: TrialNumber
    params: dict[str, ParamValue]
    distributions: dict[str, WireDist]


class WaitReply(_Envelope):
    kind: Literal["wait"] = "wait"
    retry_after: float


class DoneReply(_Envelope):
    kind: Literal["done"] = "done"
    reason: str


class ValueReply(_Envelope):
    kind: Literal["value"] = "value"
    value: ParamValue


class PruneReply(_Envelope):
    kind: Literal["prune"] = "prune"
    prune: bool
    next_step: int | None = None


class OkReply(_Envelope):
    kind: Literal["ok"] = "ok"
    number: int | None = None


class StudyReply(_Envelope):
    kind: Literal["study"] = "study"
    created: bool
    settings: dict[str, Any]


class DataReply(_Envelope):
    kind: Literal["data"] = "data"
    data: Any


class ErrorReply(_Envelope):
    kind: Literal["error"] = "error"
    code: str
    message: str


Reply = Annotated[
    TrialReply | WaitReply | DoneReply | ValueReply | PruneReply
    | OkReply | StudyReply | DataReply | ErrorReply,
    Field(discriminator="kind"),
]
