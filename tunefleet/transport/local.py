"""The embedded transport: a Unix socket between one coordinator and local worker processes.

Used by ``tunefleet run`` and ``Study.optimize(n_workers=N)`` in-process: no broker,
but the workers are real OS processes, so an objective that crashes its process
never takes the coordinator down.

Frames are length-prefixed (4 bytes, big-endian) msgpack arrays
``[type, correlation_id, body]``; the body stays opaque bytes. No pickle.

Lifecycle: ``LocalCoordinatorTransport(path)`` binds and listens at once, so
workers may be started (or forked) right after; its reader threads start on the
first ``receive``, so that no thread exists at fork time. Acks only mark
deliveries: a local worker that died cannot be redelivered to, and its trial is
recovered by its lease instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import selectors
import socket
import struct
import threading
import time
from collections import deque

import msgpack

from tunefleet.transport.base import (
    CallTimeout,
    CoordinatorTransport,
    Delivery,
    TransportLost,
    WorkerTransport,
)

log = logging.getLogger(__name__)

MAX_FRAME = 8 * 1024 * 1024
REQUEST, ONEWAY, REPLY = 1, 2, 3
_LEN = struct.Struct(">I")


def _frame(kind: int, correlation_id: str | None, body: bytes) -> bytes:
    payload = msgpack.packb([kind, correlation_id, body], use_bin_type=True)
    return _LEN.pack(len(payload)) + payload


class _Reader:
    """Splits a byte stream into frames."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, str | None, bytes]]:
        self.buf += data
        out = []
        while len(self.buf) >= 4:
            (n,) = _LEN.unpack_from(self.buf)
            if n > MAX_FRAME:
                raise ValueError(f"frame of {n} bytes is over the {MAX_FRAME}-byte limit")
            if len(self.buf) < 4 + n:
                break
            payload = bytes(self.buf[4 : 4 + n])
            del self.buf[: 4 + n]
            kind, cid, body = msgpack.unpackb(payload, raw=False)
            out.append((int(kind), cid, bytes(body)))
        return out


class _Peer:
    """One connected worker, as the coordinator sees it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = _Reader()
        self.lock = threading.Lock()
        self.alive = True

    def send(self, data: bytes) -> None:
        with self.lock:
            if not self.alive:
                return
            try:
                self.sock.sendall(data)
            except OSError:
                self.alive = False


class LocalCoordinatorTransport(CoordinatorTransport):
    def __init__(self, path: str) -> None:
        self.path = path
        if os.path.exists(path):
            os.unlink(path)
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(path)
        os.chmod(path, 0o600)
        self._server.listen(1024)
        self._inbox: queue.Queue[Delivery] = queue.Queue()
        self.dead: deque[tuple[str, bytes]] = deque(maxlen=1000)
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="local-transport",
                                            daemon=True)
            self._thread.start()

    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._server, selectors.EVENT_READ, None)
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        while not self._closing.is_set():
            for key, _ in sel.select(timeout=0.5):
                if key.data == "wake":
                    continue
                if key.data is None:
                    try:
                        conn, _ = self._server.accept()
                    except OSError:
                        continue
                    sel.register(conn, selectors.EVENT_READ, _Peer(conn))
                    continue
                peer: _Peer = key.data
                try:
                    data = peer.sock.recv(65536)
                    frames = peer.reader.feed(data) if data else None
                except (OSError, ValueError) as exc:
                    log.warning("dropping a local worker connection: %s", exc)
                    frames = None
                if frames is None:
                    sel.unregister(peer.sock)
                    peer.alive = False
                    peer.sock.close()
                    continue
                for kind, cid, body in frames:
                    reply_to = "peer" if kind == REQUEST else None
                    self._inbox.put(Delivery(body, reply_to, cid, tag=peer))
        sel.close()

    def receive(self, max_batch: int, timeout: float) -> list[Delivery]:
        self._start()
        try:
            first = self._inbox.get(timeout=timeout)
        except queue.Empty:
            return []
        batch = [first]
        while len(batch) < max_batch:
            try:
                batch.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def reply(self, delivery: Delivery, body: bytes) -> None:
        peer = delivery.tag
        if delivery.reply_to is None or not isinstance(peer, _Peer):
            return
        peer.send(_frame(REPLY, delivery.correlation_id, body))

    def ack(self, deliveries: list[Delivery]) -> None:
        for d in deliveries:
            d.mark_acked()

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        log.warning("dead-lettered a message: %s", reason)
        self.dead.append((reason, delivery.body))
        delivery.mark_acked()

    def close(self) -> None:
        self._closing.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(2)
        for s in (self._server, self._wake_r, self._wake_w):
            s.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


class LocalWorkerTransport(WorkerTransport):
    """A worker's end of the socket; connects on first use, reconnects after a loss."""

    def __init__(self, path: str, *, connect_timeout: float = 10.0) -> None:
        self.path = path
        self.connect_timeout = connect_timeout
        self._sock: socket.socket | None = None
        self._reader = _Reader()

    def _connect(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        deadline = time.monotonic() + self.connect_timeout
        delay = 0.02
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(self.path)
            except OSError as exc:
                sock.close()
                if time.monotonic() >= deadline:
                    raise TransportLost(f"cannot reach the local coordinator at {self.path}: "
                                        f"{exc.strerror}") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
                continue
            self._sock, self._reader = sock, _Reader()
            return sock

    def _lost(self, why: str) -> TransportLost:
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        return TransportLost(f"lost the local coordinator: {why}")

    def call(self, body: bytes, *, correlation_id: str, timeout: float) -> bytes:
        sock = self._connect()
        try:
            sock.sendall(_frame(REQUEST, correlation_id, body))
        except OSError as exc:
            raise self._lost(str(exc)) from None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CallTimeout(f"no answer within {timeout:g} s")
            sock.settimeout(left)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                raise CallTimeout(f"no answer within {timeout:g} s") from None
            except OSError as exc:
                raise self._lost(str(exc)) from None
            if not data:
                raise self._lost("connection closed")
            try:
                frames = self._reader.feed(data)
            except ValueError as exc:
                raise self._lost(str(exc)) from None
            for kind, cid, reply in frames:
                if kind == REPLY and cid == correlation_id:
                    return reply  # later frames in this read are stale answers: dropped

    def send(self, body: bytes) -> None:
        sock = self._connect()
        try:
            sock.sendall(_frame(ONEWAY, None, body))
        except OSError as exc:
            raise self._lost(str(exc)) from None

    def pump(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
