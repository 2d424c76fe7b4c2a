"""Between core objects and wire messages: used by the coordinator, workers and clients."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from tunefleet.core import distributions as dists
from tunefleet.core.distributions import Distribution
from tunefleet.core.settings import StudySettings
from tunefleet.core.trial import FailReason, FrozenTrial, TrialRecord, TrialState
from tunefleet.protocol import messages as m

STATE_NAMES = {
    "complete": TrialState.COMPLETE,
    "pruned": TrialState.PRUNED,
    "fail": TrialState.FAIL,
}


def dist_to_wire(d: Distribution) -> Any:
    """The plain map a message field of type ``WireDist`` takes (pydantic validates it into
    the field's model, hence ``Any``)."""
    return dists.to_dict(d)


def dists_to_wire(ds: Mapping[str, Distribution]) -> dict[str, Any]:
    return {k: dist_to_wire(d) for k, d in ds.items()}


def dist_from_wire(d: BaseModel | Mapping[str, Any]) -> Distribution:
    data = d.model_dump() if isinstance(d, BaseModel) else dict(d)
    return dists.from_dict(data)


def dists_from_wire(ds: Mapping[str, Any] | None) -> dict[str, Distribution]:
    return {k: dist_from_wire(d) for k, d in (ds or {}).items()}


def settings_from_request(req: m.CreateStudy) -> StudySettings:
    data = req.model_dump(exclude={"v", "kind", "request_id", "study", "load_if_exists"})
    return StudySettings.from_dict(data)


def trial_to_data(r: TrialRecord) -> dict[str, Any]:
    """A trial as plain data for query replies and exports."""
    return {
        "number": r.number,
        "state": r.state.name,
        "values": None if r.values is None else list(r.values),
        "params": dict(r.params),
        "distributions": dists_to_wire(r.distributions),
        "intermediate": [[s, v] for s, v in sorted(r.intermediate.items())],
        "user_attrs": dict(r.user_attrs),
        "constraints": None if r.constraints is None else list(r.constraints),
        "worker": r.worker,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "reason": None if r.reason is None else r.reason.value,
        "message": r.message,
        "retry_of": r.retry_of,
        "attempt": r.attempt,
        "late_tells": r.late_tells,
    }


def trial_from_data(d: Mapping[str, Any]) -> FrozenTrial:
    return FrozenTrial(
        number=int(d["number"]),
        state=TrialState[d["state"]],
        values=None if d.get("values") is None else tuple(float(x) for x in d["values"]),
        params=dict(d.get("params") or {}),
        distributions=dists_from_wire(d.get("distributions")),
        intermediate_values={int(s): float(v) for s, v in d.get("intermediate") or []},
        user_attrs=dict(d.get("user_attrs") or {}),
        constraints=None
        if d.get("constraints") is None
        else tuple(float(x) for x in d["constraints"]),
        worker=d.get("worker"),
        started_at=d.get("started_at"),
        finished_at=d.get("finished_at"),
        reason=None if d.get("reason") is None else FailReason(d["reason"]),
        message=d.get("message"),
        retry_of=d.get("retry_of"),
        attempt=int(d.get("attempt") or 0),
    )
