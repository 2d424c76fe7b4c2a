"""The worker: ask -> run the objective -> tell, until the study is done.

The thread that calls ``run_worker`` owns the connection (pika's rule). The
objective runs beside it in a thread and talks to it through a queue, so
heartbeats and answers keep flowing however long the objective takes, and a
SIGTERM ends the trial at once: it is told FAIL (reason ``preempted``) and the
worker returns.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import socket
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from tunefleet.convert import dists_from_wire, dists_to_wire
from tunefleet.errors import TrialFinishedError, TrialNotFound, TrialPruned
from tunefleet.protocol import messages as m
from tunefleet.worker.rpc import Rpc
from tunefleet.worker.trial import Trial, new_request_id

log = logging.getLogger(__name__)

Objective = Callable[[Trial], Any]


def default_worker_id() -> str:
    """host:pid, plus the Slurm job (``/slurm<array>_<task>`` or ``/slurm<job>``) if any."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    job = os.environ.get("SLURM_JOB_ID")
    tag = f"/slurm{array}_{task}" if array and task else f"/slurm{job}" if job else ""
    return f"{socket.gethostname()}:{os.getpid()}{tag}"


@dataclass(frozen=True)
class Outcome:
    """How one run of the objective ended."""

    state: str  # complete | pruned | fail
    values: list[float] | None = None
    reason: str | None = None
    message: str | None = None
    exc: BaseException | None = None


def execute(objective: Objective, trial: Trial) -> Outcome:
    """Run ``objective(trial)`` and classify how it ended. Never raises."""
    try:
        result = objective(trial)
    except TrialPruned:
        return Outcome("pruned")
    except Exception as exc:
        reason = getattr(exc, "fail_reason", "error")  # e.g. a command's timeout
        if reason == "error" and getattr(exc, "fail_reason", None) is None:
            text = "".join(traceback.format_exception(exc)[-3:]).strip()
        else:
            text = str(exc)
        return Outcome("fail", reason=reason, message=text[-4000:], exc=exc)
    values = _as_values(result)
    if values is None:
        return Outcome(
            "fail",
            reason="error",
            message=f"the objective returned {result!r}; expected a number or a list of numbers",
        )
    if any(math.isnan(v) for v in values):
        return Outcome("fail", reason="nan", message=f"the objective returned {result!r}")
    return Outcome("complete", values=values)


def _as_values(result: Any) -> list[float] | None:
    if isinstance(result, bool):
        return None
    if isinstance(result, (int, float)):
        return [float(result)]
    if isinstance(result, Sequence) and not isinstance(result, (str, bytes)):
        try:
            return [float(v) for v in result if not isinstance(v, bool)]
        except (TypeError, ValueError):
            return None
    try:  # numpy scalars and friends
        return [float(result)]
    except (TypeError, ValueError):
        return None


def tell_request(study: str, trial: Trial, outcome: Outcome) -> m.Tell:
    held = trial.take_held()
    steps = sorted(held)
    return m.Tell(
        request_id=new_request_id(),
        study=study,
        trial=trial.number,
        state=outcome.state,  # type: ignore[arg-type]
        values=outcome.values,
        params=trial.params,
        distributions=dists_to_wire(trial.distributions),
        user_attrs=trial.user_attrs or None,
        constraints=trial.constraints,
        reason=outcome.reason,  # type: ignore[arg-type]
        message=outcome.message,
        steps=steps,
        intermediate=[held[s] for s in steps],
    )


def send_tell(rpc: Rpc, study: str, trial: Trial, outcome: Outcome) -> bool:
    """Tell the outcome; False if the coordinator had already ended the trial."""
    try:
        rpc.call(tell_request(study, trial, outcome))
        return True
    except (TrialFinishedError, TrialNotFound) as exc:
        log.warning("trial %d: %s", trial.number, exc)
        return False


class _Handoff:
    """The objective thread's side: requests go to the owner thread, answers come back."""

    def __init__(self) -> None:
        self.requests: queue.Queue[tuple[Any, Future[Any]] | None] = queue.Queue()

    def call(self, req: Any) -> Any:
        fut: Future[Any] = Future()
        self.requests.put((req, fut))
        return fut.result()


def run_trial(
    rpc: Rpc,
    study: str,
    assigned: m.TrialReply,
    objective: Objective,
    *,
    worker_id: str,
    heartbeat: float,
    stop: threading.Event,
) -> Outcome:
    """Run one assigned trial with the objective in a thread; tell its outcome."""
    handoff = _Handoff()
    trial = Trial(
        study, assigned.number, assigned.params, dists_from_wire(assigned.distributions),
        handoff.call,
    )
    box: list[Outcome] = []

    def body() -> None:
        try:
            box.append(execute(objective, trial))
        finally:
            handoff.requests.put(None)

    thread = threading.Thread(target=body, name=f"trial-{assigned.number}", daemon=True)
    thread.start()
    next_beat = time.monotonic() + heartbeat
    while True:
        if stop.is_set():
            cancel = getattr(objective, "cancel", None)
            if cancel is not None:
                cancel()  # a command objective ends its program's process group
            outcome = Outcome("fail", reason="preempted",
                              message=f"worker {worker_id} was told to stop (SIGTERM/SIGINT)")
            send_tell(rpc, study, trial, outcome)
            return outcome
        item: tuple[Any, Future[Any]] | None | bool
        try:
            item = handoff.requests.get(timeout=0.05)
        except queue.Empty:
            item = False  # nothing yet
        if item is None:
            break
        if isinstance(item, tuple):
            req, fut = item
            try:
                fut.set_result(rpc.call(req))
            except BaseException as exc:  # handed to the objective thread, raised there
                fut.set_exception(exc)
        else:
            rpc.pump(0)
        now = time.monotonic()
        if now >= next_beat:
            rpc.send(m.Heartbeat(request_id=new_request_id(), study=study,
                                 worker_id=worker_id, trials=[assigned.number]))
            next_beat = now + heartbeat
    outcome = box[0]
    if outcome.exc is not None:
        log.warning("trial %d failed: %s", assigned.number, outcome.message)
    send_tell(rpc, study, trial, outcome)
    return outcome


@dataclass
class WorkerSummary:
    trials: int = 0
    complete: int = 0
    stopped_by: str = "done"  # done | signal | max_trials | time | idle
    longest: float = 0.0  # the longest trial this worker ran, in seconds


def run_worker(
    rpc: Rpc,
    study: str,
    objective: Objective,
    *,
    worker_id: str | None = None,
    heartbeat: float = 5.0,
    max_trials: int | None = None,
    stop: threading.Event | None = None,
    end_at: float | None = None,
    idle_timeout: float | None = None,
) -> WorkerSummary:
    """Take trials of ``study`` until it is done, ``max_trials`` ran, or ``stop`` is set.

    end_at: a ``time.monotonic()`` by which the worker must be gone (a job's time limit):
    no trial starts unless the time left exceeds the longest trial seen so far.
    idle_timeout: leave after this many seconds of being told to wait.
    """
    worker_id = worker_id or default_worker_id()
    stop = stop or threading.Event()
    summary = WorkerSummary()
    idle_since: float | None = None
    while True:
        if stop.is_set():
            summary.stopped_by = "signal"
            break
        if max_trials is not None and summary.trials >= max_trials:
            summary.stopped_by = "max_trials"
            break
        if end_at is not None and end_at - time.monotonic() <= summary.longest * 1.1:
            summary.stopped_by = "time"
            break
        reply = rpc.call(m.Ask(request_id=new_request_id(), study=study, worker_id=worker_id))
        if isinstance(reply, m.DoneReply):
            summary.stopped_by = "done"
            break
        if isinstance(reply, m.WaitReply):
            now = time.monotonic()
            idle_since = now if idle_since is None else idle_since
            if idle_timeout is not None and now - idle_since >= idle_timeout:
                summary.stopped_by = "idle"
                break
            deadline = now + reply.retry_after
            while not stop.is_set() and time.monotonic() < deadline:
                rpc.pump(min(0.1, max(0.0, deadline - time.monotonic())))
            continue
        idle_since = None
        started = time.monotonic()
        outcome = run_trial(rpc, study, reply, objective, worker_id=worker_id,
                            heartbeat=heartbeat, stop=stop)
        summary.longest = max(summary.longest, time.monotonic() - started)
        summary.trials += 1
        summary.complete += outcome.state == "complete"
    return summary
