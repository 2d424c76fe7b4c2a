"""A real fleet over the real RabbitMQ: coordinator and worker processes started by the CLI."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import msgpack
import pytest

from tests.integration.fleet import (
    cli_env,
    finished,
    load,
    run_ok,
    tunefleet,
    wait_for,
    write_study,
)
from tunefleet.core.trial import TrialState
from tunefleet.protocol import codec
from tunefleet.protocol import messages as m
from tunefleet.transport.amqp import AmqpWorkerTransport, queue_depth
from tunefleet.transport.topology import Topology

pytestmark = pytest.mark.broker


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _assert_exactly(journal: Path, name: str, n: int) -> None:
    study = load(journal, name)
    numbers = [r.number for r in study.trials]
    assert numbers == list(range(n)), "every number once, none lost or repeated"
    states = [r.state for r in study.trials]
    assert states == [TrialState.COMPLETE] * n
    assert all(r.values is not None for r in study.trials)


def test_four_workers_finish_200_trials(tmp_path: Path, broker_url: str, namespace: str) -> None:
    env = cli_env(broker_url, namespace)
    journal = tmp_path / "fleet.db"
    spec = write_study(tmp_path, "skeleton", 200)
    coord = tunefleet("coordinator", "--journal", str(journal), env=env)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        run_ok("study", "create", str(spec), env=env)
        workers = [tunefleet("worker", "--study", "skeleton", env=env, cwd=tmp_path)
                   for _ in range(4)]
        for w in workers:
            assert w.wait(120) == 0
        status = run_ok("status", "skeleton", "--limit", "5", env=env)
        assert "200 trials (200 COMPLETE)" in status.stdout.replace("\n", " ")
        assert "best trial of 'skeleton'" in status.stdout
    finally:
        _stop([*workers, coord])
    _assert_exactly(journal, "skeleton", 200)


def test_coordinator_killed_twice_loses_nothing(
    tmp_path: Path, broker_url: str, namespace: str
) -> None:
    env = cli_env(broker_url, namespace)
    journal = tmp_path / "fleet.db"
    spec = write_study(tmp_path, "crashy", 200, sleep=0.02)
    rng = random.Random()
    coord = tunefleet("coordinator", "--journal", str(journal), env=env)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        run_ok("study", "create", str(spec), env=env)
        workers = [tunefleet("worker", "--study", "crashy", "--heartbeat", "0.5", env=env)
                   for _ in range(4)]
        for kill_at in sorted(rng.sample(range(20, 170), 2)):
            wait_for(lambda at=kill_at: finished(journal, "crashy") >= at, 120,  # type: ignore[misc]
                     f"{kill_at} finished trials")
            coord.send_signal(signal.SIGKILL)
            coord.wait(10)
            coord = tunefleet("coordinator", "--journal", str(journal), env=env)
        for w in workers:
            assert w.wait(180) == 0, "no worker hung"
    finally:
        _stop([*workers, coord])
    _assert_exactly(journal, "crashy", 200)


def test_bad_messages_do_not_stop_the_coordinator(
    tmp_path: Path, broker_url: str, namespace: str
) -> None:
    env = cli_env(broker_url, namespace)
    journal = tmp_path / "fleet.db"
    spec = write_study(tmp_path, "robust", 3)
    topo = Topology(namespace)
    coord = tunefleet("coordinator", "--journal", str(journal), env=env)
    client = AmqpWorkerTransport(broker_url, topo)
    try:
        run_ok("study", "create", str(spec), env=env)
        # Not msgpack at all: parked in the dead-letter queue, nobody to answer.
        client.send(b"\xc1 definitely not msgpack")
        # A map that does not validate: answered with an error, and parked too.
        bad = msgpack.packb({"v": 1, "kind": "tell", "request_id": "bad-1", "study": "robust",
                             "trial": "three", "state": "complete"})
        reply = codec.decode_reply(client.call(bad, correlation_id="bad-1", timeout=20))
        assert isinstance(reply, m.ErrorReply) and reply.code == "bad_message"
        assert "trial" in reply.message
        # A tell for a trial that does not exist: a clear error, nothing changes.
        tell = m.Tell(request_id="tell-404", study="robust", trial=99, state="complete",
                      values=[1.0])
        reply = codec.decode_reply(client.call(codec.encode(tell), correlation_id="tell-404",
                                               timeout=20))
        assert isinstance(reply, m.ErrorReply) and reply.code == "no_trial"
        wait_for(lambda: queue_depth(broker_url, topo, topo.dead) >= 2, 20, "dead letters")
        # ... and the coordinator still serves the study to the end.
        worker = tunefleet("worker", "--study", "robust", env=env)
        assert worker.wait(60) == 0
        assert coord.poll() is None
    finally:
        client.close()
        _stop([coord])
    _assert_exactly(journal, "robust", 3)


def test_unreachable_broker_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = cli_env("amqp://guest:s3cr3t-pw@127.0.0.1:1/%2F", "tftest.unreachable")
    proc = subprocess.run(
        [sys.executable, "-m", "tunefleet", "status", "anything"], env=env, capture_output=True,
        text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "s3cr3t-pw" not in proc.stderr + proc.stdout
    assert "127.0.0.1:1" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_wrong_password_says_so(broker_url: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(broker_url)
    wrong = broker_url.replace(f":{parts.password}@", ":not-the-password@")
    env = cli_env(wrong, "tftest.auth")
    proc = subprocess.run(
        [sys.executable, "-m", "tunefleet", "status", "anything"], env=env, capture_output=True,
        text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "not-the-password" not in proc.stderr
    assert "credentials" in proc.stderr.lower() or "password" in proc.stderr.lower()


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


def test_broker_restart_mid_study_loses_and_repeats_nothing(
    tmp_path: Path, broker_url: str, namespace: str
) -> None:
    import shutil

    if shutil.which("rabbitmqctl") is None or "127.0.0.1" not in broker_url:
        pytest.fail("this test restarts the local RabbitMQ with rabbitmqctl")
    env = cli_env(broker_url, namespace)
    journal = tmp_path / "fleet.db"
    spec = write_study(tmp_path, "bounce", 150, sleep=0.2)  # ~5 s of work: outlives the outage
    coord = tunefleet("coordinator", "--journal", str(journal), env=env)
    workers: list[subprocess.Popen[bytes]] = []
    logs: list[IO[str]] = []
    try:
        run_ok("study", "create", str(spec), env=env)
        logs = [(tmp_path / f"worker{i}.log").open("w") for i in range(3)]
        workers = [tunefleet("worker", "--study", "bounce", "--heartbeat", "0.5", env=env,
                             stderr=log) for log in logs]
        wait_for(lambda: finished(journal, "bounce") >= 30, 120, "30 finished trials")
        _rabbitmqctl("stop_app")
        try:
            time.sleep(2.0)  # the outage itself, not a wait for a condition
            died = [(w.poll(), (tmp_path / f"worker{i}.log").read_text()[-3000:])
                    for i, w in enumerate(workers) if w.poll() is not None]
            assert died == [], "workers ride the outage out"
        finally:
            _rabbitmqctl("start_app")
        for w in workers:
            assert w.wait(240) == 0, "no worker hung"
        assert coord.poll() is None, "the coordinator reconnected"
    finally:
        _stop([*workers, coord])
        for log in logs:
            log.close()
    _assert_exactly(journal, "bounce", 150)
