"""The narrow transport interface: bytes in, bytes out.

A transport moves opaque message bodies between workers/clients and the
coordinator. It knows nothing of the protocol (it never decodes a body) and
nothing of pydantic. Two implementations share this contract and one test suite:
``amqp`` (RabbitMQ through pika) and ``local`` (the embedded transport over a
Unix socket, for ``tunefleet run`` and in-process studies with several workers).

Coordinator side (one thread owns it):

    batch = t.receive(max_batch=256, timeout=0.05)   # deliveries, maybe empty
    ...journal commit...
    t.reply(delivery, body)                          # to the sender, if it wants one
    t.ack(batch)                                     # after the answers are out
    t.dead_letter(delivery, reason)                  # undecodable: park it with the reason

Worker/client side (one thread owns it):

    body = t.call(request_body, correlation_id=request_id, timeout=10.0)
    t.send(oneway_body)                              # heartbeats: no answer
    t.pump(0.5)                                      # keep the connection alive while idle

``call`` raises ``CallTimeout`` when no answer came in time and ``TransportLost``
when the connection broke; the caller retries with the *same* request (the
coordinator is idempotent by request id). Transports reconnect with backoff by
themselves on the next call after a loss.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

from tunefleet.errors import TunefleetError


class TransportLost(TunefleetError):
    """The connection broke; the next call reconnects."""

    code = "transport_lost"


class CallTimeout(TunefleetError):
    """No answer came within the timeout."""

    code = "timeout"


@dataclass(eq=False)
class Delivery:
    """One received message. Acked exactly once; acking twice is a bug and raises."""

    body: bytes
    reply_to: str | None
    correlation_id: str | None
    tag: object = None  # the transport's own handle (delivery tag, connection ...)
    acked: bool = field(default=False)

    def mark_acked(self) -> None:
        if self.acked:
            raise RuntimeError("delivery acked twice")
        self.acked = True


class CoordinatorTransport(abc.ABC):
    @abc.abstractmethod
    def receive(self, max_batch: int, timeout: float) -> list[Delivery]:
        """Up to ``max_batch`` deliveries; waits at most ``timeout`` s for the first one."""

    @abc.abstractmethod
    def reply(self, delivery: Delivery, body: bytes) -> None:
        """Answer ``delivery``'s sender (no-op if it gave no reply address)."""

    @abc.abstractmethod
    def ack(self, deliveries: list[Delivery]) -> None:
        """Acknowledge, after their answers were sent. Unacked ones are redelivered."""

    @abc.abstractmethod
    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Park an unusable message with ``reason`` and ack it."""

    @abc.abstractmethod
    def close(self) -> None: ...


class WorkerTransport(abc.ABC):
    @abc.abstractmethod
    def call(self, body: bytes, *, correlation_id: str, timeout: float) -> bytes:
        """Send a request and wait for its answer (CallTimeout, TransportLost)."""

    @abc.abstractmethod
    def send(self, body: bytes) -> None:
        """Send a one-way message (no answer expected)."""

    @abc.abstractmethod
    def pump(self, seconds: float) -> None:
        """Keep the connection serviced for ``seconds`` while there is nothing to send."""

    @abc.abstractmethod
    def close(self) -> None: ...
