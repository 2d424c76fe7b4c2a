"""The coordinator's loop: receive a batch -> dispatch -> one commit -> answers -> acks.

    batch = transport.receive(...)
    for each delivery: decode (or dead-letter), dispatch -> events (applied) + reply
    journal.append(events); journal.commit()            # one fsync for the batch
    transport.reply(...) for each; transport.ack(batch)  # answer only what is durable

A crash anywhere loses nothing: unacked requests come back (or are retried by
their senders with the same request id) and, after replaying the journal, get
the same answers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from tunefleet.coordinator.dispatch import Dispatcher
from tunefleet.coordinator.leases import Leases
from tunefleet.coordinator.studies import Studies
from tunefleet.core import events as ev
from tunefleet.errors import BadMessage
from tunefleet.protocol import codec
from tunefleet.protocol import messages as m
from tunefleet.transport.base import CoordinatorTransport, Delivery, TransportLost

log = logging.getLogger(__name__)

LEASE_CHECK_SECONDS = 0.5


class Coordinator:
    """Owns every study. Only this object changes study state or writes the journal."""

    def __init__(
        self,
        journal: Any,
        transport: CoordinatorTransport | None = None,
        *,
        clock: Callable[[], float] = time.time,
        max_batch: int = 256,
    ) -> None:
        self.journal = journal
        self.transport = transport
        self.clock = clock
        self.max_batch = max_batch
        self.studies = Studies()
        self.leases = Leases()
        self.dispatcher = Dispatcher(self.studies, self.leases)
        self._next_lease_check = 0.0
        self.handled = 0
        self._replay()

    def _replay(self) -> None:
        now = self.clock()
        n = 0
        for event in self.journal.replay():
            self.dispatcher.replay(event, now)
            n += 1
        if n:
            log.info("replayed %d events: %d studies", n, len(self.studies.by_name))

    # ---- in-process use (no transport) ----------------------------------------------------
    def handle_body(self, body: bytes) -> bytes | None:
        """Handle one encoded request, commit, and return the encoded reply (None for one-way).

        Leases are not checked here: in-process, the trials' holder is this very process.
        """
        now = self.clock()
        reply, events = self._handle(body, now)
        self.journal.append(events)
        self.journal.commit()
        return None if reply is None else codec.encode(reply)

    # ---- the service loop -------------------------------------------------------------
    def step(self, timeout: float = 0.05) -> int:
        """One batch; returns how many messages it handled."""
        assert self.transport is not None
        batch = self.transport.receive(self.max_batch, timeout)
        now = self.clock()
        events: list[ev.Event] = []
        answers: list[tuple[Delivery, Any]] = []
        dead: list[tuple[Delivery, str]] = []
        for delivery in batch:
            try:
                reply, caused = self._handle(delivery.body, now)
            except BadMessage as exc:
                dead.append((delivery, str(exc)))
                kind, request_id, study = codec.peek(delivery.body)
                if delivery.reply_to and request_id:
                    answers.append(
                        (delivery, m.ErrorReply(code=exc.code, message=str(exc),
                                                request_id=request_id, study=study or "?"))
                    )
                continue
            events += caused
            if reply is not None:
                answers.append((delivery, reply))
        events += self._expire(now)
        self.journal.append(events)
        self.journal.commit()
        for delivery, reply in answers:
            self.transport.reply(delivery, codec.encode(reply))
        for delivery, reason in dead:
            log.warning("rejected a message: %s", reason)
            self.transport.dead_letter(delivery, reason)
        self.transport.ack([d for d in batch if not d.acked])
        self.handled += len(batch)
        return len(batch)

    def serve(self, stop: threading.Event, *, until: Callable[[], bool] | None = None) -> None:
        """Serve until ``stop`` is set (or ``until()`` is true); rides over broker outages."""
        while not stop.is_set():
            if until is not None and until():
                return
            try:
                self.step()
            except TransportLost as exc:
                log.warning("lost the broker connection (%s); reconnecting", exc)
                stop.wait(0.2)

    # ---- helpers ------------------------------------------------------------------------
    def _handle(self, body: bytes, now: float) -> tuple[Any, list[ev.Event]]:
        req = codec.decode_request(body)
        try:
            events, reply = self.dispatcher.handle(req, now)
        except Exception:  # a bug of ours: answer, log, keep serving
            log.exception("internal error handling %s %s", req.kind, req.request_id)
            return (
                m.ErrorReply(code="internal", message="internal coordinator error; see its log",
                             request_id=req.request_id, study=req.study),
                [],
            )
        return reply, events

    def _expire(self, now: float) -> list[ev.Event]:
        if now < self._next_lease_check:
            return []
        self._next_lease_check = now + LEASE_CHECK_SECONDS
        return self.dispatcher.expire(now)
