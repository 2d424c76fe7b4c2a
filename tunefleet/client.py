"""The Python API, with Optuna's names: create_study, load_study, Study.optimize, ask/tell.

A study lives in one of three places, and the same ``Study`` object drives all of them:

    create_study()                          in memory, in this process
    create_study("s", journal="s.db")       in this process, journaled: resumable with load_study
    create_study("s", broker="amqp://..")   on a running coordinator (`tunefleet coordinator`)

In-process, the coordinator runs inside this process and every request is
handled and committed before it returns; with ``optimize(n_workers=4)`` the
objective runs in 4 worker processes forked from this one, over the local
transport, exactly as a fleet would.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunefleet import convert
from tunefleet.core.best import best_trials as _best_trials
from tunefleet.core.distributions import Distribution, ParamValue
from tunefleet.core.pareto import hypervolume as _hypervolume
from tunefleet.core.settings import Direction, StudySettings
from tunefleet.core.trial import FrozenTrial, TrialState
from tunefleet.errors import ConfigError, TunefleetError
from tunefleet.protocol import messages as m
from tunefleet.registry import spec_of
from tunefleet.worker.loop import Outcome, execute, tell_request
from tunefleet.worker.rpc import InProcessTransport, Rpc
from tunefleet.worker.trial import Trial, new_request_id

log = logging.getLogger(__name__)

PluginArg = str | tuple[str, Mapping[str, Any]] | object | None


def _plugin(kind: str, arg: PluginArg, default: str) -> m.Plugin:
    if arg is None:
        return m.Plugin(name=default)
    if isinstance(arg, str):
        return m.Plugin(name=arg)
    if isinstance(arg, tuple):
        name, options = arg
        return m.Plugin(name=name, options=dict(options))
    if kind == "sampler":
        from tunefleet.samplers import SAMPLERS as registry
    else:
        from tunefleet.pruners import PRUNERS as registry  # type: ignore[assignment]
    name, options = spec_of(registry, arg)
    return m.Plugin(name=name, options=options)


def _directions(direction: str | None, directions: Sequence[str] | None) -> list[str]:
    if direction is not None and directions is not None:
        raise ConfigError("give either direction or directions, not both")
    if directions is not None:
        out = [Direction.parse(d).value for d in directions]
        if not out:
            raise ConfigError("directions must name at least one direction")
        return out
    return [Direction.parse(direction or "minimize").value]


# ---- where a study lives -------------------------------------------------------------------
class _InProcess:
    """A coordinator inside this process (in memory, or on a journal file)."""

    def __init__(self, journal: str | os.PathLike[str] | None) -> None:
        from tunefleet.coordinator.service import Coordinator
        from tunefleet.journal import Journal, MemoryJournal

        self.journal_path = None if journal is None else Path(journal)
        store = MemoryJournal() if journal is None else Journal(journal)
        self.coordinator = Coordinator(store)
        self.rpc = Rpc(InProcessTransport(self.coordinator))

    def trials(self, name: str) -> list[FrozenTrial]:
        return [FrozenTrial.of(r) for r in self.coordinator.studies.get(name).trials]

    def trial(self, name: str, number: int) -> FrozenTrial:
        return FrozenTrial.of(self.coordinator.studies.get(name).trial(number))

    def best(self, name: str) -> list[FrozenTrial]:
        study = self.coordinator.studies.get(name)
        return [FrozenTrial.of(r) for r in _best_trials(study.trials, study.settings.directions)]

    def info(self, name: str) -> dict[str, Any]:
        from tunefleet.coordinator.dispatch import study_info

        return study_info(self.coordinator.studies.get(name))

    def close(self) -> None:
        self.coordinator.journal.close()


class _Remote:
    """A study on a coordinator reached through RabbitMQ."""

    def __init__(self, url: str, namespace: str, timeout: float) -> None:
        from tunefleet.transport.amqp import AmqpWorkerTransport
        from tunefleet.transport.topology import Topology

        self.url = url
        self.namespace = namespace
        self.rpc = Rpc(
            AmqpWorkerTransport(url, Topology(namespace)), timeout=5.0, give_up_after=timeout
        )

    def trials(self, name: str) -> list[FrozenTrial]:
        reply = self.rpc.call(m.Query(request_id=new_request_id(), study=name, what="trials"))
        return [convert.trial_from_data(d) for d in reply.data]

    def trial(self, name: str, number: int) -> FrozenTrial:
        reply = self.rpc.call(m.Query(request_id=new_request_id(), study=name, what="trial",
                                      number=number))
        return convert.trial_from_data(reply.data)

    def best(self, name: str) -> list[FrozenTrial]:
        reply = self.rpc.call(m.Query(request_id=new_request_id(), study=name, what="best"))
        return [convert.trial_from_data(d) for d in reply.data]

    def info(self, name: str) -> dict[str, Any]:
        reply = self.rpc.call(m.Query(request_id=new_request_id(), study=name, what="info"))
        return dict(reply.data)

    def close(self) -> None:
        self.rpc.close()


# ---- the study -----------------------------------------------------------------------------
class Study:
    """A study, wherever it lives. Use create_study / load_study to get one."""

    def __init__(self, name: str, backend: _InProcess | _Remote, settings: StudySettings) -> None:
        self.study_name = name
        self._backend = backend
        self._settings = settings
        self._rpc = backend.rpc
        self._client_id = f"client:{socket.gethostname()}:{os.getpid()}"

    # ---- reading ------------------------------------------------------------------------
    @property
    def directions(self) -> list[Direction]:
        return list(self._settings.directions)

    @property
    def direction(self) -> Direction:
        if len(self._settings.directions) != 1:
            raise RuntimeError("this study has several objectives; use .directions")
        return self._settings.directions[0]

    @property
    def trials(self) -> list[FrozenTrial]:
        return self._backend.trials(self.study_name)

    def get_trials(self, states: Iterable[TrialState] | None = None) -> list[FrozenTrial]:
        wanted = None if states is None else set(states)
        return [t for t in self.trials if wanted is None or t.state in wanted]

    @property
    def best_trials(self) -> list[FrozenTrial]:
        """The Pareto front (several objectives) or the best trial (one); feasible trials only."""
        return self._backend.best(self.study_name)

    def hypervolume(self, reference_point: Sequence[float]) -> float:
        """The hypervolume of the feasible Pareto front: the volume of the objective space
        that the front dominates and that ``reference_point`` (one value per objective, worse
        than the front in each: above it to minimise, below it to maximise) bounds."""
        directions = self._settings.directions
        if len(reference_point) != len(directions):
            raise ValueError(
                f"the reference point has {len(reference_point)} value(s) but study "
                f"{self.study_name!r} has {len(directions)} objective(s)"
            )
        signs = np.array([1.0 if d == Direction.MINIMIZE else -1.0 for d in directions])
        front = [t.values for t in self.best_trials if t.values is not None]
        points = np.array(front, dtype=float).reshape(len(front), len(directions)) * signs
        return _hypervolume(points, np.asarray(reference_point, dtype=float) * signs)

    @property
    def best_trial(self) -> FrozenTrial:
        if len(self._settings.directions) != 1:
            raise RuntimeError("this study has several objectives; use .best_trials")
        best = self.best_trials
        if not best:
            raise ValueError(f"study {self.study_name!r} has no complete trial yet")
        return best[0]

    @property
    def best_value(self) -> float:
        value = self.best_trial.value
        assert value is not None
        return value

    @property
    def best_params(self) -> dict[str, ParamValue]:
        return self.best_trial.params

    # ---- ask and tell ------------------------------------------------------------------
    def ask(self, fixed_distributions: Mapping[str, Distribution] | None = None) -> Trial:
        """A new trial (waits while max_concurrent trials run)."""
        while True:
            reply = self._rpc.call(
                m.Ask(request_id=new_request_id(), study=self.study_name, worker_id=self._client_id)
            )
            if isinstance(reply, m.TrialReply):
                break
            if isinstance(reply, m.DoneReply):
                raise TunefleetError(
                    f"study {self.study_name!r} hands out no more trials ({reply.reason})"
                )
            time.sleep(reply.retry_after)
        trial = Trial(
            self.study_name,
            reply.number,
            reply.params,
            convert.dists_from_wire(reply.distributions),
            self._rpc.call,
        )
        for name, dist in (fixed_distributions or {}).items():
            trial._suggest(name, dist)
        return trial

    def tell(
        self,
        trial: Trial | int,
        values: float | Sequence[float] | None = None,
        state: TrialState | None = None,
        *,
        constraints: Sequence[float] | None = None,
    ) -> FrozenTrial:
        """End a trial asked with ``ask``: its values, or a state (PRUNED, FAIL).

        ``constraints``: the trial's constraint values, feasible when all are <= 0 (what an
        objective sets as ``trial.constraints``; Optuna's ``constraints_func`` results)."""
        if state is None:
            state = TrialState.COMPLETE if values is not None else TrialState.FAIL
        if state == TrialState.COMPLETE and values is None:
            raise ValueError("a COMPLETE tell needs values")
        names = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned",
                 TrialState.FAIL: "fail"}
        if state not in names:
            raise ValueError(f"tell takes COMPLETE, PRUNED or FAIL, not {state.name}")
        vals = None
        if values is not None:
            vals = [float(values)] if isinstance(values, (int, float)) else [
                float(v) for v in values]
        cons = None if constraints is None else [float(c) for c in constraints]
        if isinstance(trial, Trial):
            if cons is not None:
                trial.constraints = cons
            outcome = Outcome(names[state], values=vals,
                              reason="error" if state == TrialState.FAIL else None)
            req = tell_request(self.study_name, trial, outcome)
            number = trial.number
        else:
            number = int(trial)
            req = m.Tell(request_id=new_request_id(), study=self.study_name, trial=number,
                         state=names[state], values=vals,  # type: ignore[arg-type]
                         constraints=cons)
        self._rpc.call(req)
        return self._backend.trial(self.study_name, number)

    def enqueue_trial(
        self, params: Mapping[str, ParamValue], user_attrs: Mapping[str, Any] | None = None
    ) -> int:
        """Evaluate ``params`` before any sampled point (Ray Tune's points_to_evaluate)."""
        reply = self._rpc.call(
            m.Enqueue(request_id=new_request_id(), study=self.study_name, params=dict(params),
                      user_attrs=dict(user_attrs) if user_attrs else None)
        )
        return int(reply.number)

    def add_trial(self, trial: FrozenTrial) -> None:
        """Bring a finished trial in (warm start); it does not count against the budget."""
        names = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned",
                 TrialState.FAIL: "fail"}
        if trial.state not in names:
            raise ValueError(f"only finished trials can be added, not {trial.state.name}")
        steps = sorted(trial.intermediate_values)
        self._rpc.call(
            m.AddTrial(
                request_id=new_request_id(),
                study=self.study_name,
                state=names[trial.state],  # type: ignore[arg-type]
                values=None if trial.values is None else list(trial.values),
                params=dict(trial.params),
                distributions=convert.dists_to_wire(trial.distributions),
                steps=steps,
                intermediate=[trial.intermediate_values[s] for s in steps],
                user_attrs=dict(trial.user_attrs) or None,
                constraints=None if trial.constraints is None else list(trial.constraints),
                started_at=trial.started_at,
            )
        )

    def add_trials(self, trials: Iterable[FrozenTrial]) -> None:
        for t in trials:
            self.add_trial(t)

    def stop(self) -> None:
        """No new trials; running ones may finish."""
        self._rpc.call(m.StopStudy(request_id=new_request_id(), study=self.study_name))

    def set_budget(self, n_trials: int | None) -> None:
        self._rpc.call(
            m.SetBudget(request_id=new_request_id(), study=self.study_name, n_trials=n_trials)
        )

    def close(self) -> None:
        """Release the journal (in-process) or the broker connection (remote)."""
        self._backend.close()

    # ---- optimize --------------------------------------------------------------------
    def optimize(
        self,
        func: Callable[[Trial], Any],
        n_trials: int | None = None,
        timeout: float | None = None,
        n_workers: int = 1,
        catch: Iterable[type[Exception]] | type[Exception] = (),
        callbacks: Sequence[Callable[[Study, FrozenTrial], None]] | None = None,
    ) -> None:
        """Run ``func`` on ``n_trials`` more trials (None: until the study's budget is spent,
        or forever), for at most ``timeout`` seconds, in ``n_workers`` worker processes.

        With one worker the objective runs here, and an exception not listed in ``catch``
        is re-raised after its trial is recorded as FAIL (as in Optuna). With several,
        every failure is recorded and the study goes on.
        """
        if n_workers < 1:
            raise ValueError(f"n_workers must be >= 1, got {n_workers}")
        if isinstance(catch, type):
            catch = (catch,)
        catch_t = tuple(catch)
        if n_workers == 1:
            self._optimize_here(func, n_trials, timeout, catch_t, callbacks or ())
        elif isinstance(self._backend, _InProcess):
            from tunefleet.launch.forked import optimize_local

            optimize_local(self._backend.coordinator, self.study_name, func,
                           n_trials=n_trials, timeout=timeout, n_workers=n_workers)
        else:
            from tunefleet.launch.forked import optimize_remote

            optimize_remote(self._backend.url, self._backend.namespace, self.study_name, func,
                            n_trials=n_trials, timeout=timeout, n_workers=n_workers)

    def _optimize_here(
        self,
        func: Callable[[Trial], Any],
        n_trials: int | None,
        timeout: float | None,
        catch: tuple[type[Exception], ...],
        callbacks: Sequence[Callable[[Study, FrozenTrial], None]],
    ) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        done = 0
        while n_trials is None or done < n_trials:
            if deadline is not None and time.monotonic() >= deadline:
                break
            reply = self._rpc.call(
                m.Ask(request_id=new_request_id(), study=self.study_name,
                      worker_id=self._client_id)
            )
            if isinstance(reply, m.DoneReply):
                break
            if isinstance(reply, m.WaitReply):
                time.sleep(reply.retry_after)
                continue
            trial = Trial(self.study_name, reply.number, reply.params,
                          convert.dists_from_wire(reply.distributions), self._rpc.call)
            outcome = execute(func, trial)
            self._rpc.call(tell_request(self.study_name, trial, outcome))
            done += 1
            if callbacks:
                frozen = self._backend.trial(self.study_name, trial.number)
                for cb in callbacks:
                    cb(self, frozen)
            if outcome.exc is not None and not isinstance(outcome.exc, catch):
                raise outcome.exc


# ---- entry points --------------------------------------------------------------------------
def _backend(journal: Any, broker: str | None, namespace: str, timeout: float) -> Any:
    if journal is not None and broker is not None:
        raise ConfigError("give either journal= (in-process) or broker= (remote), not both")
    if broker is not None:
        return _Remote(broker, namespace, timeout)
    return _InProcess(journal)


def create_study(
    study_name: str | None = None,
    *,
    direction: str | None = None,
    directions: Sequence[str] | None = None,
    sampler: PluginArg = None,
    pruner: PluginArg = None,
    journal: str | os.PathLike[str] | None = None,
    broker: str | None = None,
    load_if_exists: bool = False,
    n_trials: int | None = None,
    max_concurrent: int | None = None,
    max_retry: int = 0,
    lease_seconds: float = 60.0,
    space: Mapping[str, Distribution] | None = None,
    namespace: str = "tunefleet",
    timeout: float = 30.0,
) -> Study:
    """A new study (or the existing one with ``load_if_exists``); see the module doc."""
    name = study_name or f"no-name-{uuid.uuid4()}"
    backend = _backend(journal, broker, namespace, timeout)
    req = m.CreateStudy(
        request_id=new_request_id(),
        study=name,
        directions=_directions(direction, directions),  # type: ignore[arg-type]
        sampler=_plugin("sampler", sampler, "tpe"),
        pruner=_plugin("pruner", pruner, "nop"),
        space=None if space is None else convert.dists_to_wire(space),
        n_trials=n_trials,
        max_concurrent=max_concurrent,
        max_retry=max_retry,
        lease_seconds=lease_seconds,
        load_if_exists=load_if_exists,
    )
    try:
        reply = backend.rpc.call(req)
    except TunefleetError:
        backend.close()
        raise
    return Study(name, backend, StudySettings.from_dict(reply.settings))


def load_study(
    study_name: str,
    *,
    journal: str | os.PathLike[str] | None = None,
    broker: str | None = None,
    sampler: PluginArg = None,
    pruner: PluginArg = None,
    namespace: str = "tunefleet",
    timeout: float = 30.0,
) -> Study:
    """An existing study, from its journal file (in-process) or its coordinator (remote).

    ``sampler``/``pruner``, if given, are used for the study's trials from now on.
    """
    if journal is None and broker is None:
        raise ConfigError("load_study needs journal= (a file) or broker= (a coordinator's broker)")
    backend = _backend(journal, broker, namespace, timeout)
    try:
        if sampler is not None or pruner is not None:
            backend.rpc.call(m.Configure(
                request_id=new_request_id(), study=study_name,
                sampler=None if sampler is None else _plugin("sampler", sampler, "random"),
                pruner=None if pruner is None else _plugin("pruner", pruner, "nop"),
            ))
        info = backend.info(study_name)
    except TunefleetError:
        backend.close()
        raise
    return Study(study_name, backend, StudySettings.from_dict(info["settings"]))
