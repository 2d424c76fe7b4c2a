"""`tunefleet run`: an embedded coordinator and N local worker processes, no broker.

The coordinator runs in this process on a journal file; the workers are real OS
processes (``python -m tunefleet worker --socket ...``) talking to it over the
local transport, so an objective that crashes its process never takes the
coordinator down, and the run can be resumed from the journal after Ctrl-C.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunefleet.coordinator.service import Coordinator
from tunefleet.core.study import Study
from tunefleet.core.trial import TrialState
from tunefleet.errors import TunefleetError
from tunefleet.journal import Journal
from tunefleet.protocol import messages as m
from tunefleet.spec import Spec
from tunefleet.transport.local import LocalCoordinatorTransport
from tunefleet.worker.rpc import InProcessTransport, Rpc
from tunefleet.worker.trial import new_request_id

log = logging.getLogger(__name__)

GRACE_SECONDS = 10.0


def worker_command(socket_path: str, study: str) -> list[str]:
    return [sys.executable, "-m", "tunefleet", "worker", "--socket", socket_path,
            "--study", study]


@dataclass(frozen=True)
class Pinning:
    """Which devices each local worker may use: worker i gets ``gpus[i % len(gpus)]`` as its
    CUDA_VISIBLE_DEVICES and, with ``pin_cpus``, CPU i modulo the CPUs of this process."""

    gpus: tuple[str, ...] = ()
    pin_cpus: bool = False

    def env_for(self, i: int) -> dict[str, str]:
        env = dict(os.environ)
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[i % len(self.gpus)]
        return env

    def apply(self, i: int, pid: int) -> None:
        if self.pin_cpus:
            cpus = sorted(os.sched_getaffinity(0))
            os.sched_setaffinity(pid, {cpus[i % len(cpus)]})


def run_spec(
    spec: Spec,
    *,
    workers: int,
    journal: str | os.PathLike[str],
    n_trials: int | None = None,
    on_progress: Callable[[Study], None] | None = None,
    stop: threading.Event | None = None,
    pinning: Pinning | None = None,
) -> Study:
    """Run ``spec`` to the end of its budget; returns the core study for reporting."""
    stop = stop or threading.Event()
    coordinator = Coordinator(Journal(journal))
    try:
        rpc = Rpc(InProcessTransport(coordinator))
        rpc.call(spec.create_request(load_if_exists=True))
        study = coordinator.studies.get(spec.name)
        if n_trials is not None:
            rpc.call(m.SetBudget(request_id=new_request_id(), study=spec.name,
                                 n_trials=study.fresh + n_trials))
        if study.is_done():
            return study
        _serve_with_workers(coordinator, study, workers, on_progress, stop, pinning or Pinning())
        return study
    finally:
        coordinator.journal.close()


def _serve_with_workers(
    coordinator: Coordinator,
    study: Study,
    workers: int,
    on_progress: Callable[[Study], None] | None,
    stop: threading.Event,
    pinning: Pinning,
) -> None:
    with tempfile.TemporaryDirectory(prefix="tunefleet-") as tmp:
        path = str(Path(tmp) / "coordinator.sock")
        transport = LocalCoordinatorTransport(path)
        coordinator.transport = transport
        procs: list[subprocess.Popen[Any]] = []
        try:
            for i in range(workers):
                proc = subprocess.Popen(worker_command(path, study.name), env=pinning.env_for(i))
                pinning.apply(i, proc.pid)
                procs.append(proc)
            stopping_since: float | None = None
            next_draw = 0.0
            while True:
                if stop.is_set() and stopping_since is None:
                    stopping_since = time.monotonic()
                    for p in procs:
                        if p.poll() is None:
                            p.send_signal(signal.SIGTERM)
                coordinator.step(0.05)
                alive = [p for p in procs if p.poll() is None]
                if on_progress is not None and time.monotonic() >= next_draw:
                    on_progress(study)
                    next_draw = time.monotonic() + 0.2
                if not alive:
                    break
                if stopping_since is not None and time.monotonic() - stopping_since > GRACE_SECONDS:
                    for p in alive:
                        p.kill()
                    break
            if on_progress is not None:
                on_progress(study)
            if not study.is_done() and not stop.is_set():
                codes = sorted({p.returncode for p in procs})
                raise TunefleetError(
                    f"every worker exited (exit codes {codes}) before study {study.name!r} "
                    "finished; see their messages above. Run again to resume from the journal."
                )
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                p.wait()
            coordinator.transport = None
            transport.close()


def finished_count(study: Study) -> int:
    return sum(1 for r in study.trials if r.state.is_finished() and r.state != TrialState.WAITING)
