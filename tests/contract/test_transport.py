"""One contract, every transport: local (Unix socket) and amqp (the real RabbitMQ).

Tests taking ``pair`` run over both; where the two differ by nature (a broker
redelivers, a socket cannot) each side's test is parametrized with an id that
says which behaviour it checks.
"""

from __future__ import annotations

import multiprocessing
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgpack
import pytest

from tunefleet.errors import BadMessage, BrokerAuthError, BrokerError, ConfigError
from tunefleet.transport.base import (
    CallTimeout,
    CoordinatorTransport,
    Delivery,
    TransportLost,
    WorkerTransport,
)
from tunefleet.transport.topology import Topology

LOCAL = pytest.param("local", id="local")
AMQP = pytest.param("amqp", id="amqp", marks=pytest.mark.broker)


@dataclass
class Pair:
    """How to make both ends of one transport, and how to read what it dead-lettered."""

    kind: str
    coordinator: Callable[[], CoordinatorTransport]
    worker: Callable[[], WorkerTransport]
    parked: Callable[[CoordinatorTransport], list[tuple[str, bytes]]]  # all so far


def _amqp_parked(url: str, topology: Topology) -> Callable[[CoordinatorTransport], list]:
    """Reads the dead-letter queue with plain pika; returns all it took off so far."""
    taken: list[tuple[str, bytes]] = []

    def parked(_: CoordinatorTransport) -> list[tuple[str, bytes]]:
        import pika

        conn = pika.BlockingConnection(pika.URLParameters(url))
        try:
            ch = conn.channel()
            while True:
                method, props, body = ch.basic_get(topology.dead, auto_ack=True)
                if method is None:
                    return list(taken)
                assert props.delivery_mode == 2, "dead letters must be persistent"
                taken.append((props.headers["x-tunefleet-reason"], body))
        finally:
            conn.close()

    return parked


@pytest.fixture(params=[LOCAL, AMQP])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Pair:
    if request.param == "local":
        from tunefleet.transport.local import LocalCoordinatorTransport, LocalWorkerTransport

        path = str(tmp_path / "c.sock")
        return Pair("local", lambda: LocalCoordinatorTransport(path),
                    lambda: LocalWorkerTransport(path),
                    lambda coord: list(coord.dead))  # type: ignore[attr-defined]
    from tunefleet.transport.amqp import AmqpCoordinatorTransport, AmqpWorkerTransport

    url = request.getfixturevalue("broker_url")
    topo = Topology(request.getfixturevalue("namespace"))
    return Pair("amqp", lambda: AmqpCoordinatorTransport(url, topo),
                lambda: AmqpWorkerTransport(url, topo), _amqp_parked(url, topo))


class Server:
    """A coordinator side answering ``b"re:" + body`` from a thread of its own.

    After ``start`` that thread is the transport's only user, until ``close``.
    """

    def __init__(self, transport: CoordinatorTransport) -> None:
        self.transport = transport
        self.seen: list[Delivery] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Server:
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                batch = self.transport.receive(64, 0.05)
                for d in batch:
                    self.seen.append(d)
                    self.transport.reply(d, b"re:" + d.body)
                self.transport.ack(batch)
            except TransportLost:
                self.stop.wait(0.05)  # the transport reconnects on the next receive

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive(), "the server thread did not stop"
        self.transport.close()


@pytest.fixture()
def closing() -> Iterator[list[Any]]:
    """Things to close (in reverse order) when the test ends, however it ends."""
    things: list[Any] = []
    yield things
    for thing in reversed(things):
        thing.close()


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def receive_n(coord: CoordinatorTransport, n: int, timeout: float = 10.0) -> list[Delivery]:
    """Exactly ``n`` deliveries (fails if they do not come within ``timeout``)."""
    got: list[Delivery] = []
    deadline = time.monotonic() + timeout
    while len(got) < n:
        assert time.monotonic() < deadline, f"got {len(got)} of {n} deliveries"
        got += coord.receive(n - len(got), 0.1)
    return got


def call_in_thread(worker: WorkerTransport, body: bytes, cid: str,
                   timeout: float = 30.0) -> tuple[threading.Thread, dict[str, Any]]:
    """``worker.call`` from a thread that owns ``worker`` until it is joined."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["answer"] = worker.call(body, correlation_id=cid, timeout=timeout)
        except Exception as exc:
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


# ---- both transports ------------------------------------------------------------------
def test_a_call_gets_its_answer(pair: Pair, closing: list[Any]) -> None:
    closing.append(Server(pair.coordinator()).start())
    worker = pair.worker()
    closing.append(worker)
    for i in range(20):
        body = f"m{i}".encode()
        assert worker.call(body, correlation_id=f"c{i}", timeout=10) == b"re:" + body


def test_concurrent_workers_get_their_own_answers(pair: Pair, closing: list[Any]) -> None:
    server = Server(pair.coordinator()).start()
    closing.append(server)
    errors: list[str] = []

    def client(k: int) -> None:
        w = pair.worker()
        try:
            for i in range(15):
                body = f"w{k}-{i}".encode()
                got = w.call(body, correlation_id=f"{k}.{i}", timeout=10)
                if got != b"re:" + body:
                    errors.append(f"{body!r} got {got!r}")
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            w.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(server.seen) == 6 * 15


def _worker_process(make: Callable[[], WorkerTransport], k: int, out: Any) -> None:
    w = make()
    try:
        for i in range(10):
            body = f"p{k}-{i}".encode()
            got = w.call(body, correlation_id=f"{k}.{i}", timeout=10)
            if got != b"re:" + body:
                out.put(f"{body!r} got {got!r}")
    finally:
        w.close()
    out.put("done")


def test_worker_processes_forked_after_the_coordinator_get_their_own_answers(
    pair: Pair, closing: list[Any]
) -> None:
    threads_before = threading.active_count()
    coord = pair.coordinator()
    # The launcher forks workers right after this: the constructor must start no thread.
    assert threading.active_count() == threads_before
    ctx = multiprocessing.get_context("fork")
    out = ctx.SimpleQueue()
    procs = [ctx.Process(target=_worker_process, args=(pair.worker, k, out), daemon=True)
             for k in range(4)]
    for p in procs:
        p.start()
    closing.append(Server(coord).start())
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 4
    reports = [out.get() for _ in range(4)]
    assert reports == ["done"] * 4


def test_a_one_way_message_arrives_without_a_reply_address(pair: Pair, closing: list[Any]) -> None:
    server = Server(pair.coordinator()).start()
    closing.append(server)
    worker = pair.worker()
    closing.append(worker)
    worker.send(b"heartbeat")
    wait_for(lambda: any(d.body == b"heartbeat" for d in server.seen))
    d = next(d for d in server.seen if d.body == b"heartbeat")
    assert (d.reply_to, d.correlation_id) == (None, None)
    assert d.acked


def test_receive_respects_max_batch_and_returns_nothing_when_idle(
    pair: Pair, closing: list[Any]
) -> None:
    coord = pair.coordinator()
    closing.append(coord)
    worker = pair.worker()
    closing.append(worker)
    started = time.monotonic()
    assert coord.receive(10, 0.2) == []
    assert time.monotonic() - started >= 0.19  # it waited its timeout before giving up
    for i in range(7):
        worker.send(f"x{i}".encode())
    got: list[Delivery] = []
    deadline = time.monotonic() + 10
    while len(got) < 7:
        assert time.monotonic() < deadline, f"only {len(got)} of 7 arrived"
        batch = coord.receive(3, 0.2)
        assert len(batch) <= 3
        got += batch
        coord.ack(batch)
    assert sorted(d.body for d in got) == [f"x{i}".encode() for i in range(7)]
    assert coord.receive(10, 0.2) == []


def test_stale_and_duplicate_answers_are_discarded(pair: Pair, closing: list[Any]) -> None:
    coord = pair.coordinator()
    closing.append(coord)  # closing twice is harmless
    worker = pair.worker()
    closing.append(worker)
    with pytest.raises(CallTimeout):
        worker.call(b"A", correlation_id="A", timeout=0.3)  # nobody answers in time
    first = receive_n(coord, 1)
    assert [d.body for d in first] == [b"A"]
    coord.reply(first[0], b"late:A")  # after the caller gave up ...
    coord.reply(first[0], b"dup:A")  # ... and twice
    coord.ack(first)
    closing.append(Server(coord).start())
    # The retry (same id) takes one answer to A; every other answer to A is stale later on.
    assert worker.call(b"A", correlation_id="A", timeout=10) in {b"late:A", b"dup:A", b"re:A"}
    assert worker.call(b"B", correlation_id="B", timeout=10) == b"re:B"
    assert worker.call(b"C", correlation_id="C", timeout=10) == b"re:C"


def test_ack_marks_each_delivery_and_acking_twice_raises(pair: Pair, closing: list[Any]) -> None:
    coord = pair.coordinator()
    closing.append(coord)
    worker = pair.worker()
    closing.append(worker)
    worker.send(b"one")
    worker.send(b"two")
    one, two = receive_n(coord, 2)
    assert not one.acked and not two.acked
    coord.ack([one])
    assert one.acked
    with pytest.raises(RuntimeError, match="twice"):
        coord.ack([one])
    with pytest.raises(RuntimeError, match="twice"):
        coord.ack([two, two])
    assert not two.acked  # a refused batch changes nothing
    coord.ack([two])
    assert two.acked


def test_dead_letter_parks_the_message_with_its_reason(pair: Pair, closing: list[Any]) -> None:
    coord = pair.coordinator()
    closing.append(coord)
    worker = pair.worker()
    closing.append(worker)
    worker.send(b"\xc1garbage")
    (d,) = receive_n(coord, 1)
    coord.dead_letter(d, "not msgpack")
    assert d.acked
    with pytest.raises(RuntimeError, match="twice"):
        coord.ack([d])
    wait_for(lambda: bool(pair.parked(coord)))
    assert pair.parked(coord) == [("not msgpack", b"\xc1garbage")]


def test_a_worker_reconnects_after_its_connection_is_cut(pair: Pair, closing: list[Any]) -> None:
    closing.append(Server(pair.coordinator()).start())
    worker = pair.worker()
    closing.append(worker)
    assert worker.call(b"a", correlation_id="a", timeout=10) == b"re:a"
    worker._cut()  # type: ignore[attr-defined]
    with pytest.raises(TransportLost):
        worker.call(b"b", correlation_id="b", timeout=10)
    assert worker.call(b"b", correlation_id="b", timeout=10) == b"re:b"  # the retry reconnects
    worker._cut()  # type: ignore[attr-defined]
    with pytest.raises(TransportLost):
        worker.send(b"beat")
    worker.send(b"beat")
    assert worker.call(b"c", correlation_id="c", timeout=10) == b"re:c"


# ---- where the two differ: what happens to a request when the coordinator goes away ----
@pytest.mark.parametrize("pair", [pytest.param("amqp", id="amqp-redelivers",
                                               marks=pytest.mark.broker)], indirect=True)
def test_unacked_requests_are_redelivered_after_a_coordinator_restart(
    pair: Pair, closing: list[Any]
) -> None:
    worker = pair.worker()
    closing.append(worker)
    worker.send(b"older, not acked")
    worker.send(b"newer, acked")
    first = pair.coordinator()
    closing.append(first)
    older, newer = receive_n(first, 2)
    assert (older.body, newer.body) == (b"older, not acked", b"newer, acked")
    first.ack([newer])  # out of order: the older one must stay unacked
    t, out = call_in_thread(worker, b"X", "X")  # the worker waits through the restart
    (x,) = receive_n(first, 1)
    assert x.body == b"X"
    first.close()  # crashed before answering X
    server = Server(pair.coordinator()).start()
    closing.append(server)
    t.join(60)
    assert out == {"answer": b"re:X"}  # answered by the new coordinator, with no retry
    wait_for(lambda: len(server.seen) >= 2)
    # Both unacked ones came back, the acked one did not (it would come first: it is older).
    assert sorted(d.body for d in server.seen) == [b"X", b"older, not acked"]


@pytest.mark.parametrize("pair", [pytest.param("local", id="local-retry-reaches-the-new-one")],
                         indirect=True)
def test_a_local_worker_retries_on_a_restarted_coordinator(pair: Pair, closing: list[Any]) -> None:
    # A socket has no queue outside the two processes: nothing is redelivered. The worker
    # learns of the loss at once, and its retry (same id) reaches the next coordinator.
    worker = pair.worker()
    closing.append(worker)
    first = pair.coordinator()
    closing.append(first)
    t, out = call_in_thread(worker, b"X", "X")
    (x,) = receive_n(first, 1)
    assert x.body == b"X"
    first.close()  # crashed before answering X
    t.join(60)
    assert isinstance(out.get("error"), TransportLost)
    closing.append(Server(pair.coordinator()).start())
    assert worker.call(b"X", correlation_id="X", timeout=10) == b"re:X"


# ---- amqp only -----------------------------------------------------------------------
@pytest.mark.parametrize("pair", [AMQP], indirect=True)
def test_the_coordinator_reconnects_and_gets_its_unacked_requests_again(
    pair: Pair, closing: list[Any]
) -> None:
    worker = pair.worker()
    closing.append(worker)
    coord = pair.coordinator()
    closing.append(coord)
    t, out = call_in_thread(worker, b"X", "X")
    (x,) = receive_n(coord, 1)
    coord._cut()  # type: ignore[attr-defined]
    with pytest.raises(TransportLost):
        coord.receive(10, 5)
    coord.reply(x, b"into the void")  # from the dead connection: skipped
    coord.ack([x])  # marked, not sent: the broker redelivers it
    assert x.acked
    again: list[Delivery] = []
    deadline = time.monotonic() + 20
    while not again:  # the next receive reconnects
        assert time.monotonic() < deadline, "the request did not come back"
        try:
            again = coord.receive(10, 0.2)
        except TransportLost:
            continue
    assert [d.body for d in again] == [b"X"]
    coord.reply(again[0], b"re:X")
    coord.ack(again)
    t.join(30)
    assert out == {"answer": b"re:X"}


@pytest.mark.broker
@pytest.mark.parametrize("side", ["coordinator", "worker"])
def test_a_wrong_password_gives_broker_auth_error_without_the_password(
    broker_url: str, side: str
) -> None:
    from tunefleet.transport.amqp import AmqpCoordinatorTransport, AmqpWorkerTransport

    parts = urlsplit(broker_url)
    netloc = f"{parts.username or 'guest'}:hunter2-wrong@{parts.hostname}:{parts.port or 5672}"
    wrong = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    cls = AmqpCoordinatorTransport if side == "coordinator" else AmqpWorkerTransport
    with pytest.raises(BrokerAuthError) as caught:
        cls(wrong, Topology("tftest.auth"))
    text = f"{caught.value} {caught.value!r}"
    assert "hunter2-wrong" not in text
    assert "***" in str(caught.value)


@pytest.mark.parametrize("side", ["coordinator", "worker"])
@pytest.mark.parametrize("url, where", [
    ("amqp://u:hunter3@127.0.0.1:1/%2F", "127.0.0.1:1"),  # nothing listens on port 1
    ("ftp://u:hunter3@127.0.0.1:5672/%2F", "***"),  # not an AMQP URL
    ("amqp://u:hunter3@127.0.0.1:99999/%2F", "u:***@127.0.0.1:99999"),  # a port out of range
])
def test_an_unusable_broker_url_gives_broker_error_with_the_password_masked(
    url: str, where: str, side: str
) -> None:
    from tunefleet.transport.amqp import AmqpCoordinatorTransport, AmqpWorkerTransport

    cls = AmqpCoordinatorTransport if side == "coordinator" else AmqpWorkerTransport
    with pytest.raises(BrokerError) as caught:
        cls(url, Topology("tftest.down"))
    assert not isinstance(caught.value, BrokerAuthError)
    text = f"{caught.value} {caught.value!r}"
    assert "hunter3" not in text
    assert where in str(caught.value)


# ---- local only ----------------------------------------------------------------------
def test_a_local_worker_waits_for_a_coordinator_that_starts_late(
    tmp_path: Path, closing: list[Any]
) -> None:
    from tunefleet.transport.local import LocalCoordinatorTransport, LocalWorkerTransport

    path = str(tmp_path / "late.sock")
    worker = LocalWorkerTransport(path, connect_timeout=30)
    closing.append(worker)
    starter = threading.Timer(0.3, lambda: closing.append(
        Server(LocalCoordinatorTransport(path)).start()))
    starter.start()
    assert worker.call(b"hi", correlation_id="x", timeout=30) == b"re:hi"
    starter.join()


def _frame_of(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


@pytest.mark.parametrize("garbage", [
    pytest.param(_frame_of(b"\xc1\xc1"), id="not-msgpack"),
    pytest.param(_frame_of(msgpack.packb([1, "c"])), id="two-fields"),
    pytest.param(_frame_of(msgpack.packb([1, "c", 5])), id="int-body"),
    pytest.param(_frame_of(msgpack.packb([1, 7, b"x"])), id="int-correlation-id"),
    pytest.param(_frame_of(msgpack.packb([3, "c", b"x"])), id="a-reply-from-a-worker"),
    pytest.param(struct.pack(">I", 8 * 1024 * 1024 + 1), id="over-the-frame-limit"),
])
def test_a_bad_frame_drops_only_its_connection(
    tmp_path: Path, closing: list[Any], garbage: bytes
) -> None:
    from tunefleet.transport.local import LocalCoordinatorTransport, LocalWorkerTransport

    path = str(tmp_path / "c.sock")
    server = Server(LocalCoordinatorTransport(path)).start()
    closing.append(server)
    rogue = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    closing.append(rogue)
    rogue.connect(path)
    rogue.sendall(garbage)
    rogue.settimeout(10)
    assert rogue.recv(1) == b""  # the coordinator hung up on it
    worker = LocalWorkerTransport(path)
    closing.append(worker)
    assert worker.call(b"fine", correlation_id="f", timeout=10) == b"re:fine"
    assert [d.body for d in server.seen] == [b"fine"]


def test_a_message_over_the_frame_limit_is_refused_before_it_is_sent(
    tmp_path: Path, closing: list[Any]
) -> None:
    from tunefleet.transport.local import MAX_FRAME, LocalCoordinatorTransport, LocalWorkerTransport

    path = str(tmp_path / "c.sock")
    closing.append(Server(LocalCoordinatorTransport(path)).start())
    worker = LocalWorkerTransport(path)
    closing.append(worker)
    with pytest.raises(BadMessage, match="frame limit"):
        worker.send(b"x" * MAX_FRAME)
    assert worker.call(b"small", correlation_id="s", timeout=10) == b"re:small"


def test_the_local_socket_is_private_and_removed_on_close(tmp_path: Path) -> None:
    from tunefleet.transport.local import LocalCoordinatorTransport

    path = tmp_path / "c.sock"
    coord = LocalCoordinatorTransport(str(path))
    assert path.is_socket() and path.stat().st_mode & 0o777 == 0o600
    coord.close()
    coord.close()  # idempotent
    assert not path.exists()
    with pytest.raises(TransportLost):
        coord.receive(1, 0)


def test_a_local_socket_path_that_is_too_long_is_a_config_error(tmp_path: Path) -> None:
    from tunefleet.transport.local import LocalCoordinatorTransport

    with pytest.raises(ConfigError, match="shorter directory"):
        LocalCoordinatorTransport(str(tmp_path / ("x" * 120)))
