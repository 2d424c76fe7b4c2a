"""The embedded transport: a Unix socket between one coordinator and local worker processes.

Used by ``tunefleet run`` and ``Study.optimize(n_workers=N)``: no broker, but the
workers are real OS processes, so an objective that crashes its process never
takes the coordinator down.

Frames are length-prefixed (4 bytes, big-endian, at most ``MAX_FRAME``) msgpack
arrays ``[type, correlation_id, body]``, type being REQUEST (wants a reply),
ONEWAY or REPLY; the body stays opaque bytes. No pickle.

Lifecycle: ``LocalCoordinatorTransport(path)`` binds and listens at once, so
workers may be started (or forked) right after; its one background thread starts
on ``start()`` or on the first ``receive()``, whichever comes first, so that no
thread exists at fork time. Workers that connect earlier wait in the listen
backlog.

What differs from RabbitMQ, by nature: there is no queue outside the two
processes. ``ack`` only marks deliveries; a request whose worker died cannot be
redelivered, and a reply to a worker that is gone is dropped. Nothing is lost
for it: a worker retries on a new connection with the same request id, and the
trial of a worker that died is recovered by its lease. ``dead_letter`` keeps the
last ``DEAD_KEPT`` parked messages in memory (``dead``) and logs each one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import selectors
import socket
import stat
import struct
import threading
import time
from collections import deque

import msgpack

from tunefleet.errors import BadMessage, ConfigError
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
DEAD_KEPT = 1000
SEND_TIMEOUT = 10.0  # a peer that reads nothing for this long is cut off
_LEN = struct.Struct(">I")
_MAX_PATH = 107  # bytes in sockaddr_un.sun_path on Linux, without the final NUL
_CHUNK = 256 * 1024


class FrameError(ValueError):
    """Bytes on the socket that are not our framing; the connection is dropped."""


def _frame(kind: int, correlation_id: str | None, body: bytes) -> bytes:
    """One frame, ready to write."""
    payload = msgpack.packb([kind, correlation_id, body], use_bin_type=True)
    if len(payload) > MAX_FRAME:
        raise BadMessage(
            f"a message of {len(body)} bytes is over the local transport's {MAX_FRAME}-byte "
            "frame limit; send smaller messages"
        )
    return _LEN.pack(len(payload)) + payload


class _Reader:
    """Splits a byte stream into frames ``(type, correlation_id, body)`` of the allowed types."""

    def __init__(self, allowed: frozenset[int]) -> None:
        self.allowed = allowed
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, str | None, bytes]]:
        self.buf += data
        out = []
        while len(self.buf) >= 4:
            (n,) = _LEN.unpack_from(self.buf)
            if n > MAX_FRAME:
                raise FrameError(f"a frame of {n} bytes is over the {MAX_FRAME}-byte limit")
            if len(self.buf) < 4 + n:
                break
            payload = bytes(self.buf[4 : 4 + n])
            del self.buf[: 4 + n]
            out.append(self._parse(payload))
        return out

    def _parse(self, payload: bytes) -> tuple[int, str | None, bytes]:
        try:
            frame = msgpack.unpackb(payload, raw=False)
        except Exception as exc:  # msgpack raises several kinds for bad input
            raise FrameError(f"a frame that is not msgpack ({type(exc).__name__})") from None
        if not (isinstance(frame, list) and len(frame) == 3):
            raise FrameError("a frame that is not [type, correlation_id, body]")
        kind, cid, body = frame
        if kind not in self.allowed or not isinstance(body, bytes):
            raise FrameError(f"a frame of unexpected type {kind!r} or with a non-bytes body")
        if cid is not None and not isinstance(cid, str):
            raise FrameError("a frame whose correlation id is not a string")
        return kind, cid, body


class _Peer:
    """One connected worker, as the coordinator sees it. ``send`` may come from any thread."""

    def __init__(self, sock: socket.socket, ident: int) -> None:
        self.sock = sock
        self.ident = ident
        self.reader = _Reader(frozenset({REQUEST, ONEWAY}))
        self.lock = threading.Lock()
        self.alive = True

    def send(self, data: bytes) -> None:
        """Write one frame; if that fails, cut the connection so the worker reconnects."""
        with self.lock:
            if not self.alive:
                return  # the worker is gone: it retries on its next connection
            try:
                self.sock.sendall(data)
            except OSError as exc:  # TimeoutError included: a partial frame spoils the stream
                log.warning("cutting off local worker connection %d: %s", self.ident, exc)
                self.alive = False
                with contextlib.suppress(OSError):
                    self.sock.shutdown(socket.SHUT_RDWR)  # the reader thread then closes it

    def close(self) -> None:
        with self.lock:
            self.alive = False
            self.sock.close()


class LocalCoordinatorTransport(CoordinatorTransport):
    """The coordinator's end: listens on ``path`` (mode 0600) from the constructor on.

    One daemon thread (see ``start``) accepts workers and reads their frames into a
    queue; ``receive``, ``reply``, ``ack``, ``dead_letter`` and ``close`` belong to
    the owning thread.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        if len(os.fsencode(path)) > _MAX_PATH:
            raise ConfigError(
                f"the socket path {path!r} is longer than the {_MAX_PATH} bytes a Unix socket "
                "allows; use a shorter directory (for example under /tmp)"
            )
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)  # left over from a coordinator that did not clean up
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._server.bind(path)
            os.chmod(path, 0o600)
            self._server.listen(1024)
            self._server.setblocking(False)  # accept() after a readiness that went away
        except OSError as exc:
            self._server.close()
            why = exc.strerror or exc
            raise ConfigError(f"cannot listen on the socket {path!r}: {why}") from None
        self._inode = os.stat(path).st_ino
        self._inbox: queue.Queue[Delivery] = queue.Queue()
        self.dead: deque[tuple[str, bytes]] = deque(maxlen=DEAD_KEPT)  # (reason, body), newest last
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()

    def start(self) -> None:
        """Start the reader thread (idempotent). Fork worker processes before this, not after."""
        if self._closing.is_set():
            raise TransportLost("the local transport is closed")
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="tunefleet-local-transport",
                                            daemon=True)
            self._thread.start()

    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._server, selectors.EVENT_READ, None)
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        peers: set[_Peer] = set()
        count = 0
        try:
            while not self._closing.is_set():
                for key, _ in sel.select(timeout=1.0):
                    if key.data == "wake":  # close() wants the loop to look at _closing
                        self._wake_r.recv(64)
                        continue
                    if key.data is None:
                        try:
                            conn, _ = self._server.accept()
                        except OSError:
                            continue
                        conn.settimeout(SEND_TIMEOUT)  # reads only happen once readable
                        count += 1
                        peer = _Peer(conn, count)
                        peers.add(peer)
                        sel.register(conn, selectors.EVENT_READ, peer)
                        continue
                    peer = key.data
                    if not self._read(peer):
                        sel.unregister(peer.sock)
                        peers.discard(peer)
                        peer.close()
        except Exception:  # a bug of ours: say so; receive() then reports the transport lost
            log.exception("the local transport's reader thread failed")
        finally:
            for peer in peers:
                peer.close()
            sel.close()

    def _read(self, peer: _Peer) -> bool:
        """Queue what ``peer`` sent; False when its connection is over."""
        try:
            data = peer.sock.recv(_CHUNK)
            frames = peer.reader.feed(data)
        except (OSError, FrameError) as exc:
            log.warning("dropping local worker connection %d: %s", peer.ident, exc)
            return False
        for kind, cid, body in frames:
            reply_to = f"local:{peer.ident}" if kind == REQUEST else None
            self._inbox.put(Delivery(body, reply_to, cid, tag=peer))
        return bool(data)

    def receive(self, max_batch: int, timeout: float) -> list[Delivery]:
        self.start()
        if self._thread is not None and not self._thread.is_alive() and self._inbox.empty():
            raise TransportLost("the local transport's reader thread stopped; see the log")
        try:
            first = self._inbox.get(timeout=max(0.0, timeout))
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
        """Write the answer to the worker's connection; dropped if that connection is gone."""
        peer = delivery.tag
        if delivery.reply_to is None:
            return
        if not isinstance(peer, _Peer):
            raise TypeError("this delivery did not come from this transport")
        peer.send(_frame(REPLY, delivery.correlation_id, body))

    def ack(self, deliveries: list[Delivery]) -> None:
        """Mark them acked (there is no queue to remove them from)."""
        if len({id(d) for d in deliveries}) != len(deliveries) or any(d.acked for d in deliveries):
            raise RuntimeError("delivery acked twice")
        for d in deliveries:
            d.mark_acked()

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Keep ``(reason, body)`` in ``dead``, log it, and ack the delivery."""
        delivery.mark_acked()
        log.warning("parked an unusable message of %d bytes: %s", len(delivery.body), reason)
        self.dead.append((reason, delivery.body))

    def close(self) -> None:
        """Stop the thread, disconnect every worker, remove the socket file. Idempotent."""
        if self._closing.is_set():
            return
        self._closing.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(5)
        for s in (self._server, self._wake_r, self._wake_w):
            s.close()
        with contextlib.suppress(FileNotFoundError):
            if os.stat(self.path).st_ino == self._inode:  # not a newer coordinator's socket
                os.unlink(self.path)


class LocalWorkerTransport(WorkerTransport):
    """A worker's end of the socket: connects on first use, reconnects after a loss.

    Connecting retries with backoff for up to ``connect_timeout`` seconds, since the
    coordinator may come up a little after its workers.
    """

    def __init__(self, path: str, *, connect_timeout: float = 10.0) -> None:
        self.path = path
        self.connect_timeout = connect_timeout
        self._sock: socket.socket | None = None
        self._reader = _Reader(frozenset({REPLY}))

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
                                        f"{exc.strerror or exc}") from None
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, 0.5)
                continue
            self._sock, self._reader = sock, _Reader(frozenset({REPLY}))
            return sock

    def _lost(self, why: object) -> TransportLost:
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        return TransportLost(f"lost the local coordinator ({why}); the next call reconnects")

    def _write(self, frame: bytes) -> socket.socket:
        sock = self._connect()
        sock.settimeout(SEND_TIMEOUT)
        try:
            sock.sendall(frame)
        except OSError as exc:
            raise self._lost(exc.strerror or exc) from None
        return sock

    def call(self, body: bytes, *, correlation_id: str, timeout: float) -> bytes:
        """Send a request and read frames until its answer; stale answers are dropped."""
        sock = self._write(_frame(REQUEST, correlation_id, body))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CallTimeout(f"no answer within {timeout:g} s")
            sock.settimeout(left)
            try:
                data = sock.recv(_CHUNK)
            except TimeoutError:
                raise CallTimeout(f"no answer within {timeout:g} s") from None
            except OSError as exc:
                raise self._lost(exc.strerror or exc) from None
            if not data:
                raise self._lost("the coordinator closed the connection")
            try:
                frames = self._reader.feed(data)
            except FrameError as exc:
                raise self._lost(exc) from None
            for _, cid, reply in frames:
                if cid == correlation_id:
                    return reply  # frames after it in this read are duplicates: dropped

    def send(self, body: bytes) -> None:
        """Send a one-way message."""
        self._write(_frame(ONEWAY, None, body))

    def pump(self, seconds: float) -> None:
        """Nothing to keep alive on a Unix socket: just wait."""
        if seconds > 0:
            time.sleep(seconds)

    def _cut(self) -> None:
        """Test hook: break the connection as a crash on the other side would."""
        if self._sock is None:
            raise RuntimeError("there is no open connection to cut")
        self._sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
