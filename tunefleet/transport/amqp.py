"""RabbitMQ through pika's BlockingConnection. Every pika type stays inside this module.

    workers ──persistent, confirmed publish──▶ <ns>.coordinator (durable queue) ──▶ coordinator
    workers ◀── direct reply-to (amq.rabbitmq.reply-to) ◀── reply ◀─────────────── coordinator

The coordinator consumes with manual acks and acks a request only after its
answer was sent; a crash before that gets the request redelivered (and the
journal makes the second answer the same as the first). Messages that do not
decode are parked in ``<ns>.dead`` with the reason in the ``x-tunefleet-reason``
header.

Only the thread that created a transport may use it, ``close()`` included
(pika's rule). The first connection, made in the constructor, fails fast with
``BrokerAuthError`` or ``BrokerError``. After that, a lost connection makes the
call that noticed it raise ``TransportLost``, and the next call reconnects,
waiting with a jittered exponential backoff (capped at 5 s) between failed
attempts, for as long as the caller keeps calling.

Deliveries received on a connection that is gone are dropped on our side: their
replies and acks are skipped (the broker redelivers them to the next consumer).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pika
import pika.exceptions as pe
from pika.adapters.blocking_connection import BlockingChannel

from tunefleet.errors import BrokerAuthError, BrokerError, mask_url
from tunefleet.transport.base import (
    CallTimeout,
    CoordinatorTransport,
    Delivery,
    TransportLost,
    WorkerTransport,
)
from tunefleet.transport.topology import Topology

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-msgpack"
REPLY_TO = "amq.rabbitmq.reply-to"
REASON_HEADER = "x-tunefleet-reason"

# Connection settings we choose unless the URL's query string sets them.
_DEFAULTS: dict[str, float] = {
    "heartbeat": 30,
    "blocked_connection_timeout": 30,
    "socket_timeout": 4,  # TCP connect
    "stack_timeout": 5,  # TCP + AMQP handshake: the first connect fails within ~5 s
    "connection_attempts": 1,
}
_FIRST_DELAY = 0.1
_MAX_DELAY = 5.0

_LOST = (pe.AMQPConnectionError, pe.AMQPChannelError, ConnectionError, OSError)
_AUTH = (pe.ProbableAuthenticationError, pe.AuthenticationError, pe.ProbableAccessDeniedError)


def _parameters(url: str, name: str) -> pika.URLParameters:
    """pika's parameters for ``url``, with our defaults where the URL says nothing."""
    try:
        params = pika.URLParameters(url)
        given = parse_qs(urlsplit(url).query)
    except Exception as exc:
        raise BrokerError(
            f"the broker URL {_masked(url)} is not valid ({_reason(exc, url)}); "
            "expected amqp://user:password@host:port/vhost"
        ) from None
    for key, value in _DEFAULTS.items():
        if key not in given:
            setattr(params, key, value)
    properties = dict(params.client_properties or {})
    properties.setdefault("connection_name", name)
    params.client_properties = properties
    return params


def _reason(exc: BaseException, url: str) -> str:
    """One short line saying why ``exc`` happened, without the URL's password."""
    for _ in range(5):  # pika wraps the socket error in workflow errors: unwrap them
        wrapped = getattr(exc, "exceptions", None) or [getattr(exc, "exception", None)]
        inner = wrapped[-1] if wrapped[-1] is not None else (exc.args or [None])[0]
        if not isinstance(inner, BaseException):
            break
        exc = inner
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    elif isinstance(exc, pe.AMQPConnectionError) and not str(exc):
        text = type(exc).__name__
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    text = text.splitlines()[0][:200] if text else type(exc).__name__
    try:
        password = urlsplit(url).password or ""
    except ValueError:
        return text if "@" not in url else "details withheld: the URL does not parse"
    for secret in {password, unquote(password)} - {""}:
        text = text.replace(secret, "***")
    return text


def _masked(url: str) -> str:
    """``mask_url(url)``, also for URLs it cannot take apart (a port out of range)."""
    try:
        return mask_url(url)
    except ValueError:
        return "<unparseable URL>"


def _connect(url: str, params: pika.URLParameters) -> pika.BlockingConnection:
    """A connection, or BrokerAuthError / BrokerError with the password masked."""
    try:
        return pika.BlockingConnection(params)
    except _AUTH:
        raise BrokerAuthError(
            f"the broker at {_masked(url)} refused the credentials: check the user and "
            "password in the broker URL, and that the user may use this vhost"
        ) from None
    except (pe.AMQPError, OSError) as exc:
        raise BrokerError(
            f"cannot reach the broker at {_masked(url)}: {_reason(exc, url)}; check that "
            "RabbitMQ runs there and that the host and port are right"
        ) from None


def _declare(channel: BlockingChannel, topology: Topology, url: str) -> None:
    """The namespace's durable queues; declaring them again (same arguments) is harmless."""
    for queue in (topology.requests, topology.dead):
        try:
            channel.queue_declare(queue, durable=True)
        except pe.ChannelClosedByBroker as exc:
            if exc.reply_code == 403:
                raise BrokerAuthError(
                    f"the broker at {_masked(url)} does not let this user declare queue "
                    f"{queue!r} ({exc.reply_text}); grant it configure, write and read "
                    "permissions on the vhost"
                ) from None
            raise BrokerError(
                f"the broker at {_masked(url)} refused to declare queue {queue!r} "
                f"({exc.reply_text}); if it exists with other settings, delete it or use "
                "another namespace"
            ) from None


@dataclass(frozen=True)
class _Tag:
    """What a Delivery's ``tag`` holds: where it came from, and what a dead letter keeps."""

    generation: int  # which connection it came on; a reconnect makes older tags void
    delivery_tag: int
    message_id: str | None
    content_type: str | None
    kind: str | None  # the AMQP ``type`` property


class _Link:
    """Connection upkeep shared by both sides: connect, lose, reconnect with backoff.

    ``setup`` prepares each fresh channel (consumers, confirms, qos). ``generation``
    counts the connections made, so a delivery can tell whether its channel still lives.
    """

    def __init__(self, url: str, topology: Topology, name: str,
                 setup: Callable[[BlockingChannel], None]) -> None:
        self.url = url
        self.topology = topology
        self.params = _parameters(url, name)
        self.setup = setup
        self.conn: pika.BlockingConnection | None = None
        self.channel: BlockingChannel | None = None
        self.generation = 0
        self._delay = _FIRST_DELAY
        self._closed = threading.Event()

    def open(self) -> None:
        """Connect, declare the queues and set the channel up (BrokerError on failure)."""
        self.conn = _connect(self.url, self.params)
        try:
            self.channel = self.conn.channel()
            _declare(self.channel, self.topology, self.url)
            self.generation += 1
            self.setup(self.channel)
        except _LOST as exc:
            self._drop()
            raise BrokerError(
                f"the broker at {_masked(self.url)} closed the connection while we set it up: "
                f"{_reason(exc, self.url)}"
            ) from None
        except BaseException:
            self._drop()
            raise

    def ensure(self) -> BlockingChannel:
        """The live channel; reconnects if needed (TransportLost if that fails)."""
        if self._closed.is_set():
            raise TransportLost("the transport is closed")
        if self.channel is not None and self.channel.is_open:
            return self.channel
        self._drop()
        try:
            self.open()
        except (BrokerError, *_LOST) as exc:
            # BrokerAuthError too: we were connected before, and a broker that is still
            # booting closes new connections during the handshake, which pika reports as
            # a probable authentication failure. Wrong credentials fail the first connect.
            delay = self._delay * random.uniform(0.5, 1.0)  # jitter: a fleet must not stampede
            self._delay = min(self._delay * 2, _MAX_DELAY)
            if self._closed.wait(delay):
                raise TransportLost("the transport is closed") from None
            why = str(exc) if isinstance(exc, BrokerError) else _reason(exc, self.url)
            raise TransportLost(f"reconnecting to the broker failed: {why}") from None
        if self.generation > 1:
            log.info("reconnected to the broker at %s", _masked(self.url))
        self._delay = _FIRST_DELAY
        assert self.channel is not None
        return self.channel

    def lost(self, exc: BaseException | str) -> TransportLost:
        """Forget the broken connection; the exception for the call that noticed it."""
        why = exc if isinstance(exc, str) else _reason(exc, self.url)
        log.warning("broker connection lost: %s", why)
        self._drop()
        return TransportLost(f"the broker connection was lost ({why}); the next call reconnects")

    def _drop(self) -> None:
        conn, self.conn, self.channel = self.conn, None, None
        if conn is not None and conn.is_open:
            try:
                conn.close()
            except Exception:  # already broken: nothing to do
                log.debug("closing a broken connection failed", exc_info=True)

    def cut(self) -> None:
        """Test hook: break the TCP connection without a goodbye, as a network failure would."""
        impl = getattr(self.conn, "_impl", None)
        sock = getattr(getattr(impl, "_transport", None), "_sock", None)
        if not isinstance(sock, socket.socket):
            raise RuntimeError("there is no open connection to cut")
        sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Close for good; a backoff wait in progress ends at once."""
        self._closed.set()
        self._drop()


class AmqpCoordinatorTransport(CoordinatorTransport):
    """The coordinator's side: consumes the request queue, answers by direct reply-to.

    ``reply`` only queues an answer on the channel; ``ack`` then sends the batch's
    answers and one multiple-ack for the batch in a single write, answers first.
    """

    def __init__(self, url: str, topology: Topology, *, prefetch: int = 512) -> None:
        self.prefetch = prefetch
        self._buffer: list[Delivery] = []  # received, not yet handed out by receive()
        self._unacked: dict[int, None] = {}  # delivery tags of this channel, in arrival order
        self._cancelled = False
        self._link = _Link(url, topology, "tunefleet-coordinator", self._setup)
        self._link.open()  # the first connection fails fast with a clear BrokerError

    def _setup(self, channel: BlockingChannel) -> None:
        self._buffer, self._unacked, self._cancelled = [], {}, False
        channel.basic_qos(prefetch_count=self.prefetch)
        channel.add_on_cancel_callback(self._on_cancel)
        channel.basic_consume(self._link.topology.requests, self._on_message, auto_ack=False)

    def _on_message(self, ch: Any, method: Any, props: Any, body: bytes) -> None:
        tag = _Tag(self._link.generation, method.delivery_tag, props.message_id,
                   props.content_type, props.type)
        self._unacked[method.delivery_tag] = None
        cid = props.correlation_id or props.message_id
        self._buffer.append(Delivery(body, props.reply_to, cid, tag=tag))

    def _on_cancel(self, method_frame: Any) -> None:
        # The broker cancelled our consumer (the queue was deleted): consume afresh.
        self._cancelled = True

    def _current(self, delivery: Delivery) -> _Tag | None:
        """The delivery's tag if it came on the live channel, else None."""
        tag = delivery.tag
        if not isinstance(tag, _Tag):
            raise TypeError("this delivery did not come from this transport")
        live = self._link.channel is not None and tag.generation == self._link.generation
        return tag if live else None

    def receive(self, max_batch: int, timeout: float) -> list[Delivery]:
        self._link.ensure()
        conn = self._link.conn
        assert conn is not None
        try:
            deadline = time.monotonic() + timeout
            while not self._buffer and not self._cancelled:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                conn.process_data_events(time_limit=left)
            if self._buffer:
                conn.process_data_events(time_limit=0)  # whatever else already arrived
        except _LOST as exc:
            raise self._link.lost(exc) from None
        if self._cancelled and not self._buffer:
            raise self._link.lost("the broker cancelled our consumer; the queue was deleted?")
        batch, self._buffer = self._buffer[:max_batch], self._buffer[max_batch:]
        return batch

    def reply(self, delivery: Delivery, body: bytes) -> None:
        if not delivery.reply_to or self._current(delivery) is None:
            return  # no reply wanted, or from a connection that is gone: the sender retries
        ch = self._link.channel
        assert ch is not None
        props = pika.BasicProperties(content_type=CONTENT_TYPE,
                                     correlation_id=delivery.correlation_id)
        try:
            # Queued on the channel, not flushed: ``ack`` sends the batch's answers and its
            # acks in one write, answers first (BlockingChannel would flush each one).
            ch._impl.basic_publish("", delivery.reply_to, body, props)
        except _LOST as exc:
            raise self._link.lost(exc) from None

    def ack(self, deliveries: list[Delivery]) -> None:
        """Ack the batch after its answers, and flush both.

        The longest run of the oldest outstanding tags goes as one multiple-ack; any
        other tag (a caller acking out of order) is acked on its own.
        """
        if len({id(d) for d in deliveries}) != len(deliveries) or any(d.acked for d in deliveries):
            raise RuntimeError("delivery acked twice")
        current = [self._current(d) for d in deliveries]
        for d in deliveries:
            d.mark_acked()
        # A lost channel's deliveries are not acked: the broker redelivers them.
        tags = {tag.delivery_tag for tag in current if tag is not None}
        ch = self._link.channel
        if ch is None:
            return
        prefix: list[int] = []
        for t in self._unacked:
            if t not in tags:
                break
            prefix.append(t)
        for t in prefix:
            del self._unacked[t]
        single = tags.difference(prefix)
        try:
            if prefix:
                ch._impl.basic_ack(prefix[-1], multiple=True)
            for t in sorted(single):
                self._unacked.pop(t, None)
                ch._impl.basic_ack(t)
            assert self._link.conn is not None
            self._link.conn.process_data_events(time_limit=0)
        except _LOST as exc:
            raise self._link.lost(exc) from None

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Publish the body persistently to the dead queue with ``reason``, then ack it."""
        tag = self._current(delivery)
        delivery.mark_acked()
        ch = self._link.channel
        if tag is None or ch is None:
            return  # the broker redelivers it, and it will be parked then
        props = pika.BasicProperties(
            delivery_mode=2,
            content_type=tag.content_type or "application/octet-stream",
            message_id=tag.message_id,
            correlation_id=delivery.correlation_id,
            type=tag.kind,
            timestamp=int(time.time()),
            headers={REASON_HEADER: reason[:1000]},
        )
        try:
            ch.basic_publish("", self._link.topology.dead, delivery.body, props)
            self._unacked.pop(tag.delivery_tag, None)
            ch.basic_ack(tag.delivery_tag)
        except _LOST as exc:
            raise self._link.lost(exc) from None

    def _cut(self) -> None:
        """Test hook: break the connection as a network failure would."""
        self._link.cut()

    def close(self) -> None:
        """Close the connection; the broker requeues whatever was not acked."""
        self._link.close()


class AmqpWorkerTransport(WorkerTransport):
    """A worker's or client's side: confirmed persistent requests, answers by direct reply-to."""

    def __init__(self, url: str, topology: Topology, *, connection_name: str | None = None) -> None:
        self._replies: list[tuple[str | None, bytes]] = []  # (correlation id, body) received
        name = connection_name or f"tunefleet-worker {socket.gethostname()}:{os.getpid()}"
        self._link = _Link(url, topology, name, self._setup)
        self._link.open()  # the first connection fails fast with a clear BrokerError

    def _setup(self, channel: BlockingChannel) -> None:
        self._replies = []
        channel.confirm_delivery()
        channel.basic_consume(REPLY_TO, self._on_reply, auto_ack=True)  # before any publish

    def _on_reply(self, ch: Any, method: Any, props: Any, body: bytes) -> None:
        self._replies.append((props.correlation_id, body))

    def _publish(self, body: bytes, correlation_id: str | None, reply: bool) -> None:
        ch = self._link.ensure()
        props = pika.BasicProperties(
            delivery_mode=2,
            content_type=CONTENT_TYPE,
            correlation_id=correlation_id,
            message_id=correlation_id,
            reply_to=REPLY_TO if reply else None,
        )
        try:
            ch.basic_publish("", self._link.topology.requests, body, props, mandatory=True)
        except pe.UnroutableError:
            # The request queue is gone (deleted under us): reconnecting declares it again.
            raise self._link.lost("the request queue is gone") from None
        except pe.NackError:
            raise TransportLost("the broker refused the message (nack); retry later") from None
        except _LOST as exc:
            raise self._link.lost(exc) from None

    def call(self, body: bytes, *, correlation_id: str, timeout: float) -> bytes:
        """Publish (confirmed) and wait for the answer with this correlation id.

        Answers with other correlation ids are stale (to attempts that timed out) and
        are dropped; a late answer to an earlier attempt with the *same* id is taken,
        since the coordinator answers a retried request the same way.
        """
        self._publish(body, correlation_id, reply=True)
        conn = self._link.conn
        assert conn is not None
        deadline = time.monotonic() + timeout
        try:
            while True:
                for i, (cid, reply) in enumerate(self._replies):
                    if cid == correlation_id:
                        del self._replies[: i + 1]
                        return reply
                self._replies.clear()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CallTimeout(f"no answer within {timeout:g} s")
                conn.process_data_events(time_limit=min(left, 1.0))
        except _LOST as exc:
            raise self._link.lost(exc) from None

    def send(self, body: bytes) -> None:
        """Publish a one-way message (persistent, confirmed, no reply address)."""
        self._publish(body, None, reply=False)

    def pump(self, seconds: float) -> None:
        """Service the connection (heartbeats) for ``seconds``; answers arriving now are stale."""
        self._link.ensure()
        conn = self._link.conn
        assert conn is not None
        try:
            conn.process_data_events(time_limit=max(0.0, seconds))
        except _LOST as exc:
            raise self._link.lost(exc) from None
        self._replies.clear()

    def _cut(self) -> None:
        """Test hook: break the connection as a network failure would."""
        self._link.cut()

    def close(self) -> None:
        self._link.close()


# ---- helpers for tests, benchmarks and operators --------------------------------------------
def queue_depth(url: str, topology: Topology, queue: str | None = None) -> int:
    """Messages ready in ``queue`` (default: the request queue); declares the namespace's queues."""
    conn = _connect(url, _parameters(url, "tunefleet-inspect"))
    try:
        ch = conn.channel()
        _declare(ch, topology, url)
        return int(ch.queue_declare(queue or topology.requests, passive=True).method.message_count)
    finally:
        conn.close()


def purge(url: str, topology: Topology) -> None:
    """Delete the namespace's queues, with whatever they hold (tests and benchmarks clean up)."""
    conn = _connect(url, _parameters(url, "tunefleet-purge"))
    try:
        ch = conn.channel()
        for q in (topology.requests, topology.dead):
            ch.queue_delete(q)
    finally:
        conn.close()
