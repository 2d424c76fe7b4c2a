"""Several worker processes forked from the caller, for ``Study.optimize(n_workers=N)``.

The objective is a Python object in the caller's memory, so the workers are forked
(no pickling of anything). In-process studies get an embedded coordinator loop
over the local transport; remote studies get N broker workers.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunefleet.errors import TunefleetError
from tunefleet.protocol import messages as m
from tunefleet.worker.loop import run_worker
from tunefleet.worker.rpc import InProcessTransport, Rpc
from tunefleet.worker.trial import Trial, new_request_id

log = logging.getLogger(__name__)
Objective = Callable[[Trial], Any]


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _local_worker_main(path: str, study: str, func: Objective, index: int) -> None:
    from tunefleet.transport.local import LocalWorkerTransport

    stop = threading.Event()
    _stop_on_signals(stop)
    rpc = Rpc(LocalWorkerTransport(path), timeout=10.0, give_up_after=120.0)
    try:
        run_worker(rpc, study, func, heartbeat=1.0, stop=stop,
                   worker_id=f"{socket.gethostname()}:{os.getpid()}/w{index}")
    except TunefleetError as exc:
        log.error("worker %d stopped: %s", index, exc)
    finally:
        rpc.close()


def optimize_local(
    coordinator: Any, study: str, func: Objective, *, n_trials: int | None,
    timeout: float | None, n_workers: int,
) -> None:
    """Serve ``coordinator`` here while ``n_workers`` forked processes run ``func``."""
    from tunefleet.transport.local import LocalCoordinatorTransport

    rpc = Rpc(InProcessTransport(coordinator))
    core = coordinator.studies.get(study)

    def set_budget(n: int | None) -> None:
        rpc.call(m.SetBudget(request_id=new_request_id(), study=study, n_trials=n))

    previous = core.n_trials
    if n_trials is not None:
        set_budget(core.fresh + n_trials)
    with tempfile.TemporaryDirectory(prefix="tunefleet-") as tmp:
        path = str(Path(tmp) / "coordinator.sock")
        transport = LocalCoordinatorTransport(path)  # listening before the fork
        ctx = multiprocessing.get_context("fork")
        procs = [ctx.Process(target=_local_worker_main, args=(path, study, func, i), daemon=True)
                 for i in range(n_workers)]
        for p in procs:
            p.start()
        coordinator.transport = transport
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while any(p.is_alive() for p in procs):
                if deadline is not None and time.monotonic() >= deadline:
                    deadline = None
                    set_budget(core.fresh)  # start nothing new; let running trials end
                coordinator.step(0.05)
        except KeyboardInterrupt:
            for p in procs:
                p.terminate()
            raise
        finally:
            for p in procs:
                p.join(timeout=5)
            coordinator.transport = None
            transport.close()
            if n_trials is not None or timeout is not None:
                set_budget(previous)


def _remote_worker_main(url: str, namespace: str, study: str, func: Objective,
                        max_trials: int | None) -> None:
    from tunefleet.transport.amqp import AmqpWorkerTransport
    from tunefleet.transport.topology import Topology

    stop = threading.Event()
    _stop_on_signals(stop)
    rpc = Rpc(AmqpWorkerTransport(url, Topology(namespace)), timeout=10.0)
    try:
        run_worker(rpc, study, func, stop=stop, max_trials=max_trials)
    finally:
        rpc.close()


def optimize_remote(
    url: str, namespace: str, study: str, func: Objective, *, n_trials: int | None,
    timeout: float | None, n_workers: int,
) -> None:
    """``n_workers`` forked broker workers share ``n_trials`` between them."""
    shares: list[int | None] = [None] * n_workers if n_trials is None else [
        n_trials // n_workers + (1 if i < n_trials % n_workers else 0) for i in range(n_workers)
    ]
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_remote_worker_main, args=(url, namespace, study, func, share),
                         daemon=True)
             for share in shares if share != 0]
    for p in procs:
        p.start()
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        for p in procs:
            p.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        for p in procs:
            if p.is_alive():
                p.terminate()  # SIGTERM: the worker tells its trial as preempted, then exits
        for p in procs:
            p.join(30)
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        raise
