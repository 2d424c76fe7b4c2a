"""RabbitMQ through pika's BlockingConnection. Every pika type stays inside this module.

    workers ──persistent, confirmed publish──▶ <ns>.coordinator (durable queue) ──▶ coordinator
    workers ◀── direct reply-to (amq.rabbitmq.reply-to) ◀── reply ◀─────────────── coordinator

The coordinator consumes with manual acks and acks a request only after its
answer was sent; a crash before that gets the request redelivered (and the
journal makes the second answer the same as the first). Messages that do not
decode are parked in ``<ns>.dead`` with the reason in a header.

Only the thread that created a transport may use it (pika's rule). Both sides
reconnect with backoff on their next call after the connection is lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

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
_LOST = (pe.AMQPConnectionError, pe.AMQPChannelError, pe.StreamLostError, ConnectionError, OSError)
_AUTH = (pe.ProbableAuthenticationError, pe.AuthenticationError, pe.ProbableAccessDeniedError)


def _parameters(url: str, name: str | None) -> pika.URLParameters:
    try:
        params = pika.URLParameters(url)
    except Exception as exc:
        raise BrokerError(f"bad broker URL {mask_url(url)}: {exc}") from None
    params.heartbeat = 30
    params.blocked_connection_timeout = 60
    params.socket_timeout = 5
    params.connection_attempts = 1
    params.client_properties = {"connection_name": name or "tunefleet"}
    return params


def connect(url: str, name: str | None = None) -> pika.BlockingConnection:
    """A connection, or BrokerError / BrokerAuthError with the password masked."""
    try:
        return pika.BlockingConnection(_parameters(url, name))
    except _AUTH:
        raise BrokerAuthError(
            f"the broker at {mask_url(url)} refused the credentials (user or password is wrong, "
            "or the user may not use this vhost)"
        ) from None
    except (pe.AMQPError, OSError) as exc:
        why = type(exc).__name__ if not str(exc) else str(exc).splitlines()[0][:200]
        raise BrokerError(f"cannot reach the broker at {mask_url(url)}: {why}") from None


def declare(channel: BlockingChannel, topology: Topology) -> None:
    """The durable queues of a namespace; declaring them again is harmless."""
    channel.queue_declare(topology.requests, durable=True)
    channel.queue_declare(topology.dead, durable=True)


class _Reconnecting:
    """Connection upkeep shared by both sides: connect, lose, reconnect with backoff.

    ``setup`` prepares each fresh channel (consumers, confirms, qos).
    """

    def __init__(self, url: str, topology: Topology, name: str,
                 setup: Callable[[BlockingChannel], None]) -> None:
        self.url = url
        self.topology = topology
        self.name = name
        self.setup = setup
        self.conn: pika.BlockingConnection | None = None
        self.channel: BlockingChannel | None = None
        self._delay = 0.1
        self._closed = False

    def _open(self) -> None:
        self.conn = connect(self.url, self.name)
        self.channel = self.conn.channel()
        declare(self.channel, self.topology)
        self.setup(self.channel)

    def ensure(self) -> BlockingChannel:
        """The live channel; reconnects (with backoff between failures) if needed."""
        if self._closed:
            raise TransportLost("the transport is closed")
        if self.channel is not None and self.channel.is_open:
            return self.channel
        self._drop()
        try:
            self._open()
        except (BrokerError, *_LOST) as exc:
            # Also BrokerAuthError: we were connected before, and a broker that is still
            # booting closes new connections during the handshake, which pika reports as a
            # probable authentication failure. Wrong credentials fail the first connect.
            self._drop()
            time.sleep(self._delay)
            self._delay = min(self._delay * 2, 5.0)
            raise TransportLost(str(exc)) from None
        self._delay = 0.1
        assert self.channel is not None
        return self.channel

    def lost(self, exc: BaseException) -> TransportLost:
        log.warning("broker connection lost: %s", type(exc).__name__)
        self._drop()
        return TransportLost(f"broker connection lost ({type(exc).__name__})")

    def _drop(self) -> None:
        conn, self.conn, self.channel = self.conn, None, None
        if conn is not None and conn.is_open:
            try:
                conn.close()
            except Exception:  # already broken: nothing to do
                log.debug("closing a broken connection failed", exc_info=True)

    def close(self) -> None:
        self._closed = True
        self._drop()


class AmqpCoordinatorTransport(CoordinatorTransport):
    """The coordinator's side: consumes the request queue, answers by direct reply-to."""

    def __init__(self, url: str, topology: Topology, *, prefetch: int = 512) -> None:
        self.prefetch = prefetch
        self._buffer: list[Delivery] = []
        self._link = _Reconnecting(url, topology, "tunefleet-coordinator", self._setup)
        self._link._open()  # the first connection fails fast with a clear BrokerError

    def _setup(self, channel: BlockingChannel) -> None:
        channel.basic_qos(prefetch_count=self.prefetch)
        channel.basic_consume(self._link.topology.requests, self._on_message, auto_ack=False)
        self._buffer = []

    def _on_message(self, ch: Any, method: Any, props: Any, body: bytes) -> None:
        cid = props.correlation_id or props.message_id
        self._buffer.append(Delivery(body, props.reply_to, cid, tag=(ch, method.delivery_tag)))

    def receive(self, max_batch: int, timeout: float) -> list[Delivery]:
        self._link.ensure()
        conn = self._link.conn
        assert conn is not None
        try:
            deadline = time.monotonic() + timeout
            while not self._buffer:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                conn.process_data_events(time_limit=left)
            if self._buffer:
                conn.process_data_events(time_limit=0)  # whatever else already arrived
        except _LOST as exc:
            self._buffer = []
            raise self._link.lost(exc) from None
        batch, self._buffer = self._buffer[:max_batch], self._buffer[max_batch:]
        return batch

    def reply(self, delivery: Delivery, body: bytes) -> None:
        if not delivery.reply_to:
            return
        ch, _ = delivery.tag  # type: ignore[misc]
        if ch is not self._link.channel:
            return  # from a connection that is gone: the sender retries
        props = pika.BasicProperties(content_type=CONTENT_TYPE,
                                     correlation_id=delivery.correlation_id)
        try:
            # Queued on the channel, not flushed: ``ack`` sends the batch's answers and its
            # acks in one write, answers first (pika's BlockingChannel would flush each).
            ch._impl.basic_publish("", delivery.reply_to, body, props)
        except _LOST as exc:
            raise self._link.lost(exc) from None

    def ack(self, deliveries: list[Delivery]) -> None:
        """Ack the batch with one multiple-ack after its answers, and flush both."""
        last = None
        for d in deliveries:
            d.mark_acked()
            ch, tag = d.tag  # type: ignore[misc]
            if ch is self._link.channel and (last is None or tag > last):
                last = tag  # a lost channel's deliveries are redelivered by the broker
        ch = self._link.channel
        if ch is None:
            return
        try:
            if last is not None:
                ch._impl.basic_ack(last, multiple=True)
            assert self._link.conn is not None
            self._link.conn.process_data_events(time_limit=0)
        except _LOST as exc:
            raise self._link.lost(exc) from None

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        ch, tag = delivery.tag  # type: ignore[misc]
        delivery.mark_acked()
        if ch is not self._link.channel:
            return
        props = pika.BasicProperties(delivery_mode=2, content_type="application/octet-stream",
                                     headers={"x-tunefleet-reason": reason[:1000]})
        try:
            ch.basic_publish("", self._link.topology.dead, delivery.body, props)
            ch.basic_ack(tag)
        except _LOST as exc:
            raise self._link.lost(exc) from None

    def close(self) -> None:
        self._link.close()


class AmqpWorkerTransport(WorkerTransport):
    """A worker's or client's side: confirmed persistent requests, answers by direct reply-to."""

    def __init__(self, url: str, topology: Topology, *, connection_name: str | None = None) -> None:
        self._replies: list[tuple[str | None, bytes]] = []
        self._link = _Reconnecting(url, topology, connection_name or "tunefleet-worker",
                                   self._setup)
        self._link._open()  # the first connection fails fast with a clear BrokerError

    def _setup(self, channel: BlockingChannel) -> None:
        channel.confirm_delivery()
        channel.basic_consume(REPLY_TO, self._on_reply, auto_ack=True)
        self._replies = []

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
            ch.basic_publish("", self._link.topology.requests, body, props)
        except (pe.UnroutableError, pe.NackError) as exc:
            raise TransportLost(f"the broker did not take the message ({type(exc).__name__})") from None
        except _LOST as exc:
            raise self._link.lost(exc) from None

    def call(self, body: bytes, *, correlation_id: str, timeout: float) -> bytes:
        self._publish(body, correlation_id, reply=True)
        conn = self._link.conn
        assert conn is not None
        deadline = time.monotonic() + timeout
        try:
            while True:
                for i, (cid, reply) in enumerate(self._replies):
                    if cid == correlation_id:
                        del self._replies[: i + 1]  # earlier ones are stale answers
                        return reply
                self._replies.clear()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CallTimeout(f"no answer within {timeout:g} s")
                conn.process_data_events(time_limit=min(left, 1.0))
        except _LOST as exc:
            raise self._link.lost(exc) from None

    def send(self, body: bytes) -> None:
        self._publish(body, None, reply=False)

    def pump(self, seconds: float) -> None:
        conn = self._link.conn
        if conn is None or not conn.is_open:
            self._link.ensure()
            conn = self._link.conn
        assert conn is not None
        try:
            conn.process_data_events(time_limit=max(0.0, seconds))
        except _LOST as exc:
            raise self._link.lost(exc) from None
        self._replies.clear()  # nothing is waiting: whatever came is stale

    def close(self) -> None:
        self._link.close()


# ---- helpers for tests, benchmarks and operators --------------------------------------------
def queue_depth(url: str, topology: Topology, queue: str | None = None) -> int:
    """Messages waiting in ``queue`` (default: the request queue)."""
    conn = connect(url, "tunefleet-inspect")
    try:
        ch = conn.channel()
        declare(ch, topology)
        return int(ch.queue_declare(queue or topology.requests, passive=True).method.message_count)
    finally:
        conn.close()


def purge(url: str, topology: Topology) -> None:
    """Delete the namespace's queues (tests and benchmarks clean up with it)."""
    conn = connect(url, "tunefleet-purge")
    try:
        ch = conn.channel()
        for q in (topology.requests, topology.dead):
            ch.queue_delete(q)
    finally:
        conn.close()
