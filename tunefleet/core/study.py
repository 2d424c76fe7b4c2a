"""One study's state machine: commands and ``now`` in, events and a reply out.

Each command checks the request against the current state, decides (asking the
sampler or the pruner where it must), and returns the events that record the
outcome together with the reply. The events are applied through ``apply``, the
only mutator, which is also what replay calls. Nothing here reads a clock, does
I/O or keeps globals; ``now`` is an argument.

    events, reply = study.ask("w3", request_id="r1", now=t)
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Mapping
from typing import Any

from tunefleet.core import events as ev
from tunefleet.core.distributions import Distribution, ParamValue, check_value
from tunefleet.core.history import StudyView
from tunefleet.core.replies import (  # noqa: F401 - re-exported: the study's vocabulary
    Accepted,
    Done,
    PruneAnswer,
    PruneDecision,
    PrunerLike,
    Refused,
    Reply,
    Result,
    SamplerLike,
    Suggested,
    TrialAssigned,
    Wait,
    reply_of,
)
from tunefleet.core.settings import PluginSpec, StudySettings
from tunefleet.core.trial import FailReason, TrialRecord, TrialState, move
from tunefleet.errors import (
    ConfigError,
    InvalidValue,
    TrialFinishedError,
    TrialNotFound,
    TunefleetError,
)

WAIT_SECONDS = 0.5  # how long a worker told to wait should wait before asking again


def _fits(dist: Distribution, value: Any) -> bool:
    try:
        check_value("", dist, value)
    except InvalidValue:
        return False
    return True


def _user_values(values: Any, n_objectives: int) -> tuple[float, ...]:
    if values is None:
        raise InvalidValue("a COMPLETE trial needs its objective values")
    if isinstance(values, (int, float)) and not isinstance(values, bool):
        values = (values,)
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise InvalidValue(f"objective values must be numbers, got {values!r}") from None
    if len(out) != n_objectives:
        raise InvalidValue(
            f"the study has {n_objectives} objective(s) but the trial returned {len(out)} value(s)"
        )
    return out


class Study:
    """A study's whole state. ``apply`` is its only mutator."""

    def __init__(
        self, name: str, settings: StudySettings, sampler: SamplerLike, pruner: PrunerLike
    ) -> None:
        if len(settings.directions) > 1 and settings.pruner.name != "nop":
            raise ConfigError(
                f"study {name!r} has {len(settings.directions)} objectives; pruning works with "
                "one objective only, so use pruner 'nop'"
            )
        self.name = name
        self.settings = settings
        self.sampler = sampler
        self.pruner = pruner
        self.view = StudyView(settings.directions)
        self.view.cohort_of = self._cohort_of
        self.waiting: deque[int] = deque()
        self.n_trials: int | None = settings.n_trials
        self.fresh = 0  # trials that count against the budget
        self.stopped = False

    # ---- reading ----------------------------------------------------------------
    @property
    def trials(self) -> list[TrialRecord]:
        return self.view.trials

    def trial(self, number: int) -> TrialRecord:
        if not (isinstance(number, int) and 0 <= number < len(self.view.trials)):
            raise TrialNotFound(f"study {self.name!r} has no trial {number!r}")
        return self.view.trials[number]

    def budget_spent(self) -> bool:
        """No new trial is to be started: stopped, ``n_trials`` reached, or the sampler's
        search space spent (a grid whose every point was handed out)."""
        if self.stopped or (self.n_trials is not None and self.fresh >= self.n_trials):
            return True
        return self.sampler.exhausted(self.view)

    def is_done(self) -> bool:
        """No trial will ever be handed out again, and none is running."""
        if self.view.running:
            return False
        return self.stopped or (self.budget_spent() and not self.waiting)

    # ---- commands -----------------------------------------------------------------
    def ask(self, worker: str, *, request_id: str | None, now: float) -> Result:
        running = len(self.view.running)
        if self.stopped:  # as Optuna's study.stop(): waiting trials are not started either
            return [], Done("stopped")
        if self.waiting:
            if self.settings.max_concurrent and running >= self.settings.max_concurrent:
                return [], Wait(WAIT_SECONDS)
            record = self.trial(self.waiting[0])
            fixed = dict(record.params)
            dists = dict(record.distributions)
        elif self.budget_spent():
            if self.view.running:
                # A running trial may yet fail and be retried: stay around for it.
                return [], Wait(WAIT_SECONDS)
            if self.n_trials is not None and self.fresh >= self.n_trials:
                return [], Done("budget spent")
            return [], Done("search space exhausted")
        elif self.settings.max_concurrent and running >= self.settings.max_concurrent:
            return [], Wait(WAIT_SECONDS)
        else:
            record = TrialRecord(number=len(self.trials), state=TrialState.RUNNING)
            fixed, dists = {}, {}
        space = self.settings.space
        if space is None:
            space = self.sampler.infer_relative_search_space(self.view, record)
        todo = {k: d for k, d in space.items() if k not in fixed}
        sampled = self.sampler.sample_relative(self.view, record, todo) if todo else {}
        params = {**fixed, **sampled}
        dists.update({k: space[k] for k in sampled})
        for k, v in fixed.items():
            # An enqueued value outside the space gets no distribution: a suggest for it
            # then samples a value that fits, instead of handing out one no tell accepts.
            if k not in dists and k in space and _fits(space[k], v):
                dists[k] = space[k]
        event = ev.TrialStarted(
            self.name, request_id, now, record.number, worker, params, dists
        )
        return self._emit([event])

    def suggest(
        self, number: int, name: str, dist: Distribution, *, request_id: str | None, now: float
    ) -> Result:
        record = self._running(number)
        known = record.distributions.get(name)
        if known is not None:
            if known != dist:
                raise InvalidValue(
                    f"parameter {name!r} of trial {number} was already suggested as {known}; "
                    f"it cannot be suggested again as {dist}"
                )
            return [], Suggested(record.params[name])
        if name in record.params:  # an enqueued value: use it if it fits
            try:
                check_value(name, dist, record.params[name])
                value = record.params[name]
            except InvalidValue:
                value = self.sampler.sample_independent(self.view, record, name, dist)
        else:
            value = self.sampler.sample_independent(self.view, record, name, dist)
        event = ev.ParamSuggested(self.name, request_id, now, number, name, dist, value)
        return self._emit([event])

    def report(
        self, number: int, values: Mapping[int, float], *, request_id: str | None, now: float
    ) -> Result:
        record = self._running(number)
        clean: dict[int, float] = {}
        for step, value in sorted(values.items()):
            if isinstance(step, bool) or not isinstance(step, int) or step < 0:
                raise InvalidValue(f"a step must be an int >= 0, got {step!r}")
            try:
                clean[step] = float(value)
            except (TypeError, ValueError):
                raise InvalidValue(f"a reported value must be a number, got {value!r}") from None
        if not clean:
            raise InvalidValue("a report needs at least one (step, value)")
        # As Optuna: a step reported again keeps its first value.
        clean = {k: v for k, v in clean.items() if k not in record.intermediate}
        if not clean:
            return [], PruneAnswer(False, None)
        decision = PruneDecision(False)
        if len(self.settings.directions) == 1:
            step = max(clean)
            seen = dataclasses.replace(record, intermediate={**record.intermediate, **clean})
            decision = self.pruner.on_report(self.view, seen, step, clean[step])
        event = ev.IntermediateReported(
            self.name, request_id, now, number, clean, decision.prune, decision.next_step,
            decision.rung,
        )
        return self._emit([event])

    def tell(
        self,
        number: int,
        state: TrialState,
        *,
        values: Any = None,
        params: Mapping[str, ParamValue] | None = None,
        distributions: Mapping[str, Distribution] | None = None,
        user_attrs: Mapping[str, Any] | None = None,
        constraints: Any = None,
        reason: FailReason | None = None,
        message: str | None = None,
        intermediate: Mapping[int, float] | None = None,
        request_id: str | None,
        now: float,
    ) -> Result:
        record = self.trial(number)
        if record.state.is_finished():
            late_values = None
            if values is not None:
                try:
                    late_values = _user_values(values, len(self.settings.directions))
                except InvalidValue:
                    late_values = None
            late = ev.LateTellRecorded(self.name, request_id, now, number, state, late_values)
            return self._emit([late])
        if record.state != TrialState.RUNNING:
            raise TrialNotFound(f"trial {number} of study {self.name!r} is not running")
        if state not in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
            raise InvalidValue(f"a tell must end a trial as COMPLETE, PRUNED or FAIL, not {state.name}")
        final_params = dict(record.params)
        final_dists = dict(record.distributions)
        if params is not None:
            final_params = dict(params)
            final_dists = {**final_dists, **(distributions or {})}
            final_dists = {k: d for k, d in final_dists.items() if k in final_params}
        for k, d in final_dists.items():
            check_value(k, d, final_params[k])
        out_values: tuple[float, ...] | None = None
        if state == TrialState.COMPLETE:
            out_values = _user_values(values, len(self.settings.directions))
            if any(math.isnan(v) for v in out_values):
                state, reason = TrialState.FAIL, FailReason.NAN
                message = message or f"the objective returned {list(out_values)!r}"
                out_values = None
        held = {int(k): float(v) for k, v in (intermediate or {}).items()
                if k not in record.intermediate}
        reported = {**record.intermediate, **held}
        if state == TrialState.PRUNED and reported:
            out_values = (reported[max(reported)],)
            if len(self.settings.directions) != 1:
                out_values = None
        if state == TrialState.FAIL and reason is None:
            reason = FailReason.ERROR
        cons = None if constraints is None else tuple(float(c) for c in constraints)
        finished = ev.TrialFinished(
            self.name,
            request_id,
            now,
            number,
            state,
            out_values,
            final_params,
            final_dists,
            dict(user_attrs or {}),
            cons,
            reason if state == TrialState.FAIL else None,
            message,
            held,
        )
        events: list[ev.Event] = [finished]
        if state == TrialState.FAIL and reason is not None:
            events += self._retry(record, reason, now, final_params, final_dists)
        return self._emit(events)

    def lapse(self, number: int, *, now: float) -> list[ev.Event]:
        """The lease of RUNNING trial ``number`` lapsed: FAIL it as lost (and maybe retry)."""
        record = self.trial(number)
        if record.state != TrialState.RUNNING:
            return []
        events: list[ev.Event] = [ev.LeaseLapsed(self.name, None, now, number, record.worker)]
        events += self._retry(record, FailReason.LOST, now, record.params, record.distributions)
        for e in events:
            self.apply(e)
        return events

    def enqueue(
        self,
        params: Mapping[str, ParamValue],
        *,
        user_attrs: Mapping[str, Any] | None = None,
        request_id: str | None,
        now: float,
    ) -> Result:
        dists: dict[str, Distribution] = {}
        if self.settings.space is not None:
            for k, v in params.items():
                if k in self.settings.space:
                    check_value(k, self.settings.space[k], v)
                    dists[k] = self.settings.space[k]
        event = ev.TrialEnqueued(
            self.name, request_id, now, len(self.trials), dict(params), dists, dict(user_attrs or {})
        )
        return self._emit([event])

    def add_trial(
        self,
        *,
        state: TrialState,
        values: Any,
        params: Mapping[str, ParamValue],
        distributions: Mapping[str, Distribution],
        intermediate: Mapping[int, float] | None = None,
        user_attrs: Mapping[str, Any] | None = None,
        constraints: Any = None,
        started_at: float | None = None,
        request_id: str | None,
        now: float,
    ) -> Result:
        if not state.is_finished():
            raise InvalidValue(f"only finished trials can be added, not {state.name}")
        if set(params) != set(distributions):
            raise InvalidValue("an added trial needs one distribution for each param")
        for k, d in distributions.items():
            check_value(k, d, params[k])
        out = None
        if state == TrialState.COMPLETE:
            out = _user_values(values, len(self.settings.directions))
            if any(math.isnan(v) for v in out):  # as Optuna: a NaN result is a FAIL, not a value
                raise InvalidValue(f"a COMPLETE trial cannot have NaN values, got {list(out)!r}")
        elif values is not None:
            raise InvalidValue(f"a {state.name} trial has no objective values")
        event = ev.TrialAdded(
            self.name,
            request_id,
            now,
            len(self.trials),
            state,
            out,
            dict(params),
            dict(distributions),
            {int(k): float(v) for k, v in (intermediate or {}).items()},
            dict(user_attrs or {}),
            None if constraints is None else tuple(float(c) for c in constraints),
            started_at,
        )
        return self._emit([event])

    def stop(self, *, request_id: str | None, now: float) -> Result:
        return self._emit([ev.StudyStopped(self.name, request_id, now)])

    def set_budget(self, n_trials: int | None, *, request_id: str | None, now: float) -> Result:
        if n_trials is not None and n_trials < 0:
            raise InvalidValue(f"n_trials must be >= 0, got {n_trials}")
        return self._emit([ev.BudgetSet(self.name, request_id, now, n_trials)])

    def set_plugins(
        self,
        sampler: PluginSpec | None,
        pruner: PluginSpec | None,
        *,
        request_id: str | None,
        now: float,
    ) -> Result:
        """Use another sampler/pruner from now on; the caller rebuilds the objects after."""
        if pruner is not None and pruner.name != "nop" and len(self.settings.directions) > 1:
            raise ConfigError("pruning works with one objective only, so use pruner 'nop'")
        return self._emit([ev.PluginsSet(self.name, request_id, now, sampler, pruner)])

    # ---- the one mutator --------------------------------------------------------------
    def apply(self, e: ev.Event) -> None:
        if isinstance(e, ev.TrialStarted):
            if self.waiting and self.waiting[0] == e.number:
                self.waiting.popleft()
                record = self.trial(e.number)
            else:
                record = TrialRecord(number=e.number, state=TrialState.WAITING)
                self.view.add_trial(record)
                self.fresh += 1
            move(record, TrialState.RUNNING)
            record.params = dict(e.params)
            record.distributions = dict(e.distributions)
            record.worker = e.worker
            record.started_at = e.at
            record.seen_finished = self.view.n_finished
            self.view.started(record)
        elif isinstance(e, ev.ParamSuggested):
            record = self.trial(e.number)
            record.params[e.name] = e.value
            record.distributions[e.name] = e.distribution
        elif isinstance(e, ev.IntermediateReported):
            record = self.trial(e.number)
            record.intermediate.update(e.values)
            if e.rung is not None:
                record.rung = e.rung
        elif isinstance(e, ev.TrialFinished):
            record = self.trial(e.number)
            move(record, e.state)
            record.intermediate.update(e.intermediate)
            record.values = e.values
            record.params = dict(e.params)
            record.distributions = dict(e.distributions)
            record.user_attrs.update(e.user_attrs)
            record.constraints = e.constraints
            record.reason = e.reason
            record.message = e.message
            record.finished_at = e.at
            self.view.finished(record)
        elif isinstance(e, ev.LeaseLapsed):
            record = self.trial(e.number)
            move(record, TrialState.FAIL)
            record.reason = FailReason.LOST
            record.message = (
                f"no heartbeat from worker {e.worker!r} for {self.settings.lease_seconds:g} s"
            )
            record.finished_at = e.at
            self.view.finished(record)
        elif isinstance(e, ev.TrialEnqueued):
            record = TrialRecord(
                number=e.number,
                state=TrialState.WAITING,
                params=dict(e.params),
                distributions=dict(e.distributions),
                user_attrs=dict(e.user_attrs),
                retry_of=e.retry_of,
                attempt=e.attempt,
            )
            self.view.add_trial(record)
            self.waiting.append(e.number)
            if e.retry_of is None:
                self.fresh += 1
        elif isinstance(e, ev.TrialAdded):
            record = TrialRecord(
                number=e.number,
                state=e.state,
                params=dict(e.params),
                distributions=dict(e.distributions),
                values=e.values,
                intermediate=dict(e.intermediate),
                user_attrs=dict(e.user_attrs),
                constraints=e.constraints,
                worker="added",
                started_at=e.started_at if e.started_at is not None else e.at,
                finished_at=e.at,
                seen_finished=self.view.n_finished,  # as if asked and told at once
            )
            self.view.add_trial(record)
            self.view.finished(record)
        elif isinstance(e, ev.LateTellRecorded):
            record = self.trial(e.number)
            record.late_tells += 1
        elif isinstance(e, ev.StudyStopped):
            self.stopped = True
        elif isinstance(e, ev.PluginsSet):
            self.settings = dataclasses.replace(
                self.settings,
                sampler=e.sampler or self.settings.sampler,
                pruner=e.pruner or self.settings.pruner,
            )
        elif isinstance(e, ev.BudgetSet):
            self.n_trials = e.n_trials
        else:
            raise TunefleetError(f"study {self.name!r} cannot apply {type(e).__name__}")

    # ---- helpers -------------------------------------------------------------------
    def _cohort_of(self, number: int) -> int | None:
        return self.pruner.cohort(self.view, number)

    def _emit(self, events: list[ev.Event]) -> Result:
        for e in events:
            self.apply(e)
        reply = reply_of(events[0])
        assert reply is not None
        return events, reply

    def _running(self, number: int) -> TrialRecord:
        record = self.trial(number)
        if record.state.is_finished():
            raise TrialFinishedError(
                f"trial {number} of study {self.name!r} is already {record.state.name}"
            )
        if record.state != TrialState.RUNNING:
            raise TrialNotFound(f"trial {number} of study {self.name!r} is not running yet")
        return record

    def _retry(
        self,
        record: TrialRecord,
        reason: FailReason,
        now: float,
        params: Mapping[str, ParamValue],
        dists: Mapping[str, Distribution],
    ) -> list[ev.Event]:
        if self.stopped:
            return []
        if reason.is_users_fault:
            spent = 1 + self._user_failures_before(record)
            if spent > self.settings.max_retry:
                return []
        elif not self.settings.retry_lost:
            return []
        return [
            ev.TrialEnqueued(
                self.name,
                None,
                now,
                len(self.trials),
                dict(params),
                dict(dists),
                dict(record.user_attrs),
                retry_of=record.number,
                attempt=record.attempt + 1,
            )
        ]

    def _user_failures_before(self, record: TrialRecord) -> int:
        n = 0
        r = record
        while r.retry_of is not None:
            r = self.trial(r.retry_of)
            if r.reason is not None and r.reason.is_users_fault:
                n += 1
        return n
