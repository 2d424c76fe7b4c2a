"""Handlers by message kind, and the request-id cache that makes every request idempotent.

``Dispatcher.handle(request, now)`` returns the events the request caused (already
applied to the study) and the reply to send once they are committed. A request
whose id was answered before gets the same reply again and causes nothing; the
cache is rebuilt from the journal on replay, so this holds across restarts.
"""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from tunefleet import convert
from tunefleet.coordinator.leases import Leases
from tunefleet.coordinator.studies import Studies, build_study, rebuild_plugins
from tunefleet.core import events as ev
from tunefleet.core import study as core
from tunefleet.core.best import best_trials
from tunefleet.core.settings import PluginSpec, StudySettings
from tunefleet.core.trial import FailReason, TrialState
from tunefleet.errors import InvalidValue, StudyExists, TunefleetError
from tunefleet.protocol import messages as m
from tunefleet.pruners import make_pruner
from tunefleet.samplers import make_sampler

log = logging.getLogger(__name__)

CACHE_SIZE = 200_000
Handled = tuple[list[ev.Event], Any]  # (events, reply model or None)


def wire_reply(reply: core.Reply, request_id: str, study: str) -> Any:
    """The wire message for a core reply."""
    if isinstance(reply, core.TrialAssigned):
        return m.TrialReply(
            number=reply.number,
            params=reply.params,
            distributions=convert.dists_to_wire(reply.distributions),
            request_id=request_id, study=study,
        )
    if isinstance(reply, core.Wait):
        return m.WaitReply(retry_after=reply.retry_after, request_id=request_id, study=study)
    if isinstance(reply, core.Done):
        return m.DoneReply(reason=reply.reason, request_id=request_id, study=study)
    if isinstance(reply, core.Suggested):
        return m.ValueReply(value=reply.value, request_id=request_id, study=study)
    if isinstance(reply, core.PruneAnswer):
        return m.PruneReply(prune=reply.prune, next_step=reply.next_step, request_id=request_id, study=study)
    if isinstance(reply, core.Accepted):
        return m.OkReply(number=reply.number, request_id=request_id, study=study)
    assert isinstance(reply, core.Refused)
    return m.ErrorReply(code=reply.code, message=reply.message, request_id=request_id, study=study)


def error_reply(exc: TunefleetError, request_id: str, study: str) -> m.ErrorReply:
    return m.ErrorReply(code=exc.code, message=str(exc), request_id=request_id, study=study)


class Dispatcher:
    def __init__(self, studies: Studies, leases: Leases) -> None:
        self.studies = studies
        self.leases = leases
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._handlers: dict[str, Callable[[Any, float], Handled]] = {
            "create_study": self._create_study,
            "ask": self._ask,
            "suggest": self._suggest,
            "report": self._report,
            "tell": self._tell,
            "heartbeat": self._heartbeat,
            "enqueue": self._enqueue,
            "add_trial": self._add_trial,
            "query": self._query,
            "stop_study": self._stop,
            "set_budget": self._set_budget,
            "configure": self._configure,
        }

    # ---- entry points ------------------------------------------------------------------
    def handle(self, req: Any, now: float) -> Handled:
        cached = self._cache.get(req.request_id)
        if cached is not None:
            return [], cached
        try:
            events, reply = self._handlers[req.kind](req, now)
        except TunefleetError as exc:
            return [], error_reply(exc, req.request_id, req.study)
        if events and reply is not None:
            self._remember(req.request_id, reply)
        return events, reply

    def replay(self, event: ev.Event, now: float) -> None:
        """Apply a journaled event and remember the answer it stood for."""
        self.studies.apply(event)
        if event.request_id is not None:
            if isinstance(event, ev.StudyCreated):
                reply: Any = self._study_reply(event.study, True, event.request_id)
            else:
                answer = core.reply_of(event)
                reply = None if answer is None else wire_reply(answer, event.request_id, event.study)
            if reply is not None and event.request_id not in self._cache:
                self._remember(event.request_id, reply)
        if isinstance(event, ev.TrialStarted):
            study = self.studies.get(event.study)
            self.leases.grant((event.study, event.number), event.worker,
                              now + study.settings.lease_seconds)
        elif isinstance(event, (ev.TrialFinished, ev.LeaseLapsed)):
            self.leases.release((event.study, event.number))

    def expire(self, now: float) -> list[ev.Event]:
        """FAIL (reason lost) every RUNNING trial whose lease lapsed."""
        out: list[ev.Event] = []
        for key in self.leases.lapsed(now):
            self.leases.release(key)
            study = self.studies.by_name.get(key[0])
            if study is not None:
                events = study.lapse(key[1], now=now)
                if events:
                    log.warning("trial %d of study %r lost: no heartbeat from %s",
                                key[1], key[0], study.trial(key[1]).worker)
                out += events
        return out

    def _remember(self, request_id: str, reply: Any) -> None:
        self._cache[request_id] = reply
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    # ---- handlers -------------------------------------------------------------------------
    def _study_reply(self, name: str, created: bool, request_id: str) -> m.StudyReply:
        settings = self.studies.get(name).settings.to_dict()
        return m.StudyReply(created=created, settings=settings, request_id=request_id, study=name)

    def _create_study(self, req: m.CreateStudy, now: float) -> Handled:
        if req.study in self.studies.by_name:
            if req.load_if_exists:
                return [], self._study_reply(req.study, False, req.request_id)
            raise StudyExists(
                f"a study named {req.study!r} already exists; load it, or pick another name"
            )
        settings = convert.settings_from_request(req)
        if "seed" not in settings.sampler.options:
            # A seed chosen once and journaled: the study then replays and reproduces exactly.
            opts = {**settings.sampler.options, "seed": secrets.randbits(31)}
            settings = StudySettings.from_dict(
                {**settings.to_dict(), "sampler": {"name": settings.sampler.name, "options": opts}}
            )
        build_study(req.study, settings)  # raises ConfigError for bad plug-ins, before journaling
        event = ev.StudyCreated(req.study, req.request_id, now, settings)
        self.studies.apply(event)
        return [event], self._study_reply(req.study, True, req.request_id)

    def _ask(self, req: m.Ask, now: float) -> Handled:
        study = self.studies.get(req.study)
        events, reply = study.ask(req.worker_id, request_id=req.request_id, now=now)
        if isinstance(reply, core.TrialAssigned):
            self.leases.grant(
                (req.study, reply.number), req.worker_id, now + study.settings.lease_seconds
            )
        return events, wire_reply(reply, req.request_id, req.study)

    def _suggest(self, req: m.Suggest, now: float) -> Handled:
        study = self.studies.get(req.study)
        dist = convert.dist_from_wire(req.distribution)
        events, reply = study.suggest(
            req.trial, req.name, dist, request_id=req.request_id, now=now
        )
        return events, wire_reply(reply, req.request_id, req.study)

    def _report(self, req: m.Report, now: float) -> Handled:
        study = self.studies.get(req.study)
        if len(req.steps) != len(req.values):
            raise InvalidValue("a report needs as many steps as values")
        values = dict(zip(req.steps, req.values, strict=False))
        events, reply = study.report(req.trial, values, request_id=req.request_id, now=now)
        return events, wire_reply(reply, req.request_id, req.study)

    def _tell(self, req: m.Tell, now: float) -> Handled:
        study = self.studies.get(req.study)
        events, reply = study.tell(
            req.trial,
            convert.STATE_NAMES[req.state],
            values=req.values,
            params=req.params,
            distributions=convert.dists_from_wire(req.distributions),
            user_attrs=req.user_attrs,
            constraints=req.constraints,
            reason=None if req.reason is None else FailReason(req.reason),
            message=req.message,
            intermediate=dict(zip(req.steps, req.intermediate, strict=True)),
            request_id=req.request_id,
            now=now,
        )
        for e in events:
            if isinstance(e, ev.TrialFinished):
                self.leases.release((req.study, e.number))
        return events, wire_reply(reply, req.request_id, req.study)

    def _heartbeat(self, req: m.Heartbeat, now: float) -> Handled:
        study = self.studies.by_name.get(req.study)
        if study is not None:
            until = {req.study: now + study.settings.lease_seconds}
            self.leases.renew(req.worker_id, [(req.study, n) for n in req.trials], until)
        return [], None

    def _enqueue(self, req: m.Enqueue, now: float) -> Handled:
        study = self.studies.get(req.study)
        events, reply = study.enqueue(
            req.params, user_attrs=req.user_attrs, request_id=req.request_id, now=now
        )
        return events, wire_reply(reply, req.request_id, req.study)

    def _add_trial(self, req: m.AddTrial, now: float) -> Handled:
        study = self.studies.get(req.study)
        events, reply = study.add_trial(
            state=convert.STATE_NAMES[req.state],
            values=req.values,
            params=req.params,
            distributions=convert.dists_from_wire(req.distributions),
            intermediate=dict(zip(req.steps, req.intermediate, strict=False)),
            user_attrs=req.user_attrs,
            constraints=req.constraints,
            started_at=req.started_at,
            request_id=req.request_id,
            now=now,
        )
        return events, wire_reply(reply, req.request_id, req.study)

    def _query(self, req: m.Query, now: float) -> Handled:
        study = self.studies.get(req.study)
        data: Any
        if req.what == "info":
            data = study_info(study)
        elif req.what == "trials":
            data = [convert.trial_to_data(r) for r in study.trials]
        elif req.what == "trial":
            data = convert.trial_to_data(study.trial(req.number if req.number is not None else -1))
        else:
            data = [
                convert.trial_to_data(r)
                for r in best_trials(study.trials, study.settings.directions)
            ]
        return [], m.DataReply(data=data, request_id=req.request_id, study=req.study)

    def _stop(self, req: m.StopStudy, now: float) -> Handled:
        events, reply = self.studies.get(req.study).stop(request_id=req.request_id, now=now)
        return events, wire_reply(reply, req.request_id, req.study)

    def _configure(self, req: m.Configure, now: float) -> Handled:
        study = self.studies.get(req.study)
        sampler, pruner = _spec(req.sampler), _spec(req.pruner)
        if sampler is not None:
            make_sampler(sampler.name, sampler.options)  # ConfigError before anything changes
        if pruner is not None:
            make_pruner(pruner.name, pruner.options)
        events, reply = study.set_plugins(sampler, pruner, request_id=req.request_id, now=now)
        rebuild_plugins(study)
        return events, wire_reply(reply, req.request_id, req.study)

    def _set_budget(self, req: m.SetBudget, now: float) -> Handled:
        study = self.studies.get(req.study)
        events, reply = study.set_budget(req.n_trials, request_id=req.request_id, now=now)
        return events, wire_reply(reply, req.request_id, req.study)


def _spec(plugin: m.Plugin | None) -> PluginSpec | None:
    return None if plugin is None else PluginSpec(plugin.name, dict(plugin.options))


def study_info(study: core.Study) -> dict[str, Any]:
    counts = {s.name: 0 for s in TrialState}
    for r in study.trials:
        counts[r.state.name] += 1
    return {
        "name": study.name,
        "settings": study.settings.to_dict(),
        "n_trials": study.n_trials,
        "counted": study.fresh,
        "stopped": study.stopped,
        "done": study.is_done(),
        "counts": counts,
    }
