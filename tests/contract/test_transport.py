"""One contract, every transport: local (Unix socket) and amqp (the real RabbitMQ)."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tunefleet.errors import BrokerAuthError, BrokerError
from tunefleet.transport.base import (
    CallTimeout,
    CoordinatorTransport,
    Delivery,
    TransportLost,
    WorkerTransport,
)
from tunefleet.transport.topology import Topology


@dataclass
class Pair:
    coordinator: Callable[[], CoordinatorTransport]
    worker: Callable[[], WorkerTransport]
    kind: str


@pytest.fixture(params=["local", "amqp"])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    if request.param == "local":
        from tunefleet.transport.local import LocalCoordinatorTransport, LocalWorkerTransport

        path = str(tmp_path / "c.sock")
        yield Pair(lambda: LocalCoordinatorTransport(path), lambda: LocalWorkerTransport(path),
                   "local")
        return
    url = request.getfixturevalue("broker_url")
    ns = request.getfixturevalue("namespace")
    from tunefleet.transport.amqp import AmqpCoordinatorTransport, AmqpWorkerTransport

    yield Pair(lambda: AmqpCoordinatorTransport(url, Topology(ns)),
               lambda: AmqpWorkerTransport(url, Topology(ns)), "amqp")


class Server:
    """A coordinator side that answers ``b"re:" + body`` in a thread of its own."""

    def __init__(self, make: Callable[[], CoordinatorTransport], *, answer: bool = True) -> None:
        self.transport = make()  # created here: the thread below is its only user after this
        self.answer = answer
        self.seen: list[Delivery] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            batch = self.transport.receive(64, 0.05)
            for d in batch:
                self.seen.append(d)
                if self.answer:
                    self.transport.reply(d, b"re:" + d.body)
            self.transport.ack(batch)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.transport.close()


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_call_gets_its_answer(pair: Pair) -> None:
    server = Server(pair.coordinator)
    worker = pair.worker()
    try:
        for i in range(20):
            assert worker.call(f"m{i}".encode(), correlation_id=f"c{i}", timeout=10) == f"re:m{i}".encode()
    finally:
        worker.close()
        server.close()


def test_concurrent_workers_get_their_own_answers(pair: Pair) -> None:
    server = Server(pair.coordinator)
    errors: list[str] = []

    def client(k: int) -> None:
        w = pair.worker()
        try:
            for i in range(15):
                body = f"w{k}-{i}".encode()
                got = w.call(body, correlation_id=uuid.uuid4().hex, timeout=10)
                if got != b"re:" + body:
                    errors.append(f"{body!r} got {got!r}")
        finally:
            w.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        server.close()
    assert errors == []
    assert len(server.seen) == 6 * 15


def test_one_way_messages_arrive_without_reply_address(pair: Pair) -> None:
    server = Server(pair.coordinator)
    worker = pair.worker()
    try:
        worker.send(b"heartbeat")
        wait_for(lambda: any(d.body == b"heartbeat" for d in server.seen))
        d = next(d for d in server.seen if d.body == b"heartbeat")
        assert d.reply_to is None
    finally:
        worker.close()
        server.close()


def test_receive_respects_max_batch_and_timeout(pair: Pair) -> None:
    coord = pair.coordinator()
    worker = pair.worker()
    try:
        assert coord.receive(10, 0.2) == []
        for i in range(7):
            worker.send(f"x{i}".encode())
        got: list[Delivery] = []
        deadline = time.monotonic() + 10
        while len(got) < 7 and time.monotonic() < deadline:
            batch = coord.receive(3, 0.2)
            assert len(batch) <= 3
            got += batch
            coord.ack(batch)
        assert sorted(d.body for d in got) == [f"x{i}".encode() for i in range(7)]
    finally:
        worker.close()
        coord.close()


def test_a_late_answer_is_not_taken_for_the_next_call(pair: Pair) -> None:
    coord = pair.coordinator()
    worker = pair.worker()
    try:
        with pytest.raises(CallTimeout):
            worker.call(b"slow", correlation_id="first", timeout=0.3)
        batch = coord.receive(10, 5)
        assert [d.body for d in batch] == [b"slow"]
        coord.reply(batch[0], b"late answer")  # arrives after the caller gave up
        coord.ack(batch)

        answered = threading.Event()

        def answer_next() -> None:
            while not answered.is_set():
                for d in coord.receive(10, 0.1):
                    coord.reply(d, b"right answer")
                    coord.ack([d])
                    answered.set()

        t = threading.Thread(target=answer_next, daemon=True)
        t.start()
        assert worker.call(b"next", correlation_id="second", timeout=10) == b"right answer"
        t.join(5)
    finally:
        worker.close()
        coord.close()


def test_acking_twice_is_an_error(pair: Pair) -> None:
    coord = pair.coordinator()
    worker = pair.worker()
    try:
        worker.send(b"once")
        batch: list[Delivery] = []
        wait_for(lambda: bool(batch.extend(coord.receive(1, 0.1)) or batch))
        coord.ack(batch)
        with pytest.raises(RuntimeError, match="twice"):
            coord.ack(batch)
    finally:
        worker.close()
        coord.close()


def test_dead_letters_keep_the_reason(pair: Pair, request: pytest.FixtureRequest) -> None:
    coord = pair.coordinator()
    worker = pair.worker()
    try:
        worker.send(b"\xc1garbage")
        batch: list[Delivery] = []
        wait_for(lambda: bool(batch.extend(coord.receive(1, 0.1)) or batch))
        coord.dead_letter(batch[0], "not msgpack")
        assert batch[0].acked
        if pair.kind == "local":
            assert list(coord.dead) == [("not msgpack", b"\xc1garbage")]  # type: ignore[attr-defined]
        else:
            import pika

            url = request.getfixturevalue("broker_url")
            ns = request.getfixturevalue("namespace")
            conn = pika.BlockingConnection(pika.URLParameters(url))
            try:
                got = None
                deadline = time.monotonic() + 10
                while got is None and time.monotonic() < deadline:
                    method, props, body = conn.channel().basic_get(Topology(ns).dead, auto_ack=True)
                    if method is not None:
                        got = (props.headers["x-tunefleet-reason"], body)
                assert got == ("not msgpack", b"\xc1garbage")
            finally:
                conn.close()
    finally:
        worker.close()
        coord.close()


@pytest.mark.broker
def test_unacked_requests_are_redelivered_after_a_coordinator_restart(
    broker_url: str, namespace: str
) -> None:
    from tunefleet.transport.amqp import AmqpCoordinatorTransport, AmqpWorkerTransport

    topo = Topology(namespace)
    worker = AmqpWorkerTransport(broker_url, topo)
    first = AmqpCoordinatorTransport(broker_url, topo)
    try:
        worker.send(b"keep me")
        batch: list[Delivery] = []
        wait_for(lambda: bool(batch.extend(first.receive(1, 0.1)) or batch))
        first.close()  # crashed before acking
        second = AmqpCoordinatorTransport(broker_url, topo)
        again: list[Delivery] = []
        wait_for(lambda: bool(again.extend(second.receive(1, 0.1)) or again))
        assert again[0].body == b"keep me"
        second.ack(again)
        second.close()
    finally:
        worker.close()


def _close_from_the_broker(connection_name: str) -> None:
    """Have RabbitMQ itself close our connection, as a broker restart or an operator would."""
    out = subprocess.run(["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    pids = [line.split()[0] for line in out.splitlines() if connection_name in line]
    assert pids, f"connection {connection_name} not found"
    for pid in pids:
        subprocess.run(["rabbitmqctl", "-q", "close_connection", pid, "test cut"],
                       capture_output=True, timeout=60, check=True)


@pytest.mark.broker
def test_a_worker_reconnects_after_the_broker_closes_its_connection(
    broker_url: str, namespace: str
) -> None:
    if shutil.which("rabbitmqctl") is None or "127.0.0.1" not in broker_url:
        pytest.fail("this test needs the local RabbitMQ and its rabbitmqctl")
    from tunefleet.transport.amqp import AmqpCoordinatorTransport, AmqpWorkerTransport

    topo = Topology(namespace)
    name = f"victim-{uuid.uuid4().hex[:8]}"
    server = Server(lambda: AmqpCoordinatorTransport(broker_url, topo))
    worker = AmqpWorkerTransport(broker_url, topo, connection_name=name)
    try:
        assert worker.call(b"a", correlation_id="a", timeout=10) == b"re:a"
        _close_from_the_broker(name)
        answers = []
        for attempt in range(20):
            try:
                answers.append(worker.call(b"b", correlation_id=f"b{attempt}", timeout=5))
                break
            except TransportLost:
                continue
        assert answers == [b"re:b"]
    finally:
        worker.close()
        server.close()


def test_local_worker_waits_for_a_coordinator_that_starts_late(tmp_path: Path) -> None:
    from tunefleet.transport.local import LocalCoordinatorTransport, LocalWorkerTransport

    path = str(tmp_path / "late.sock")
    worker = LocalWorkerTransport(path, connect_timeout=10)
    holder: list[Server] = []
    starter = threading.Timer(0.3, lambda: holder.append(
        Server(lambda: LocalCoordinatorTransport(path))))
    starter.start()
    try:
        assert worker.call(b"hi", correlation_id="x", timeout=10) == b"re:hi"
    finally:
        starter.join()
        worker.close()
        for s in holder:
            s.close()


def test_wrong_password_and_unreachable_broker(broker_url: str) -> None:
    from urllib.parse import urlsplit

    from tunefleet.transport.amqp import AmqpWorkerTransport

    parts = urlsplit(broker_url)
    wrong = broker_url.replace(f":{parts.password}@", ":hunter2-wrong@")
    with pytest.raises(BrokerAuthError) as auth:
        AmqpWorkerTransport(wrong, Topology("tftest.auth"))
    assert "hunter2-wrong" not in str(auth.value) and "***" in str(auth.value)
    with pytest.raises(BrokerError) as down:
        AmqpWorkerTransport("amqp://u:hunter3@127.0.0.1:1/%2F", Topology("tftest.down"))
    assert "hunter3" not in str(down.value) and "127.0.0.1:1" in str(down.value)
