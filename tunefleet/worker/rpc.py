"""Requests with retries: the same request (same id) is sent again until it is answered.

The coordinator is idempotent by request id, so a retry after a timeout, a lost
connection or a coordinator restart gets the answer the first attempt would have.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from tunefleet.errors import RequestTimeout, from_code
from tunefleet.protocol import codec
from tunefleet.protocol import messages as m
from tunefleet.transport.base import CallTimeout, TransportLost, WorkerTransport

log = logging.getLogger(__name__)


class Rpc:
    """Typed calls over a WorkerTransport. Owned by one thread, like the transport.

    timeout: how long to wait for one attempt's answer.
    give_up_after: stop retrying after this many seconds (None: retry forever, as a
    worker riding over a coordinator restart should).
    """

    def __init__(
        self,
        transport: WorkerTransport,
        *,
        timeout: float = 10.0,
        give_up_after: float | None = None,
    ) -> None:
        self.transport = transport
        self.timeout = timeout
        self.give_up_after = give_up_after

    def call(self, req: Any) -> Any:
        body = codec.encode(req)
        started = time.monotonic()
        delay = 0.1
        attempt = 0
        while True:
            attempt += 1
            try:
                raw = self.transport.call(
                    body, correlation_id=req.request_id, timeout=self.timeout
                )
                break
            except (CallTimeout, TransportLost) as exc:
                waited = time.monotonic() - started
                if self.give_up_after is not None and waited >= self.give_up_after:
                    raise RequestTimeout(
                        f"no answer from the coordinator to {req.kind} for study {req.study!r} "
                        f"after {waited:.0f} s; is `tunefleet coordinator` running on this broker?"
                    ) from None
                if attempt in (1, 5) or attempt % 20 == 0:
                    log.warning("%s for %s: %s; retrying (attempt %d)",
                                req.kind, req.study, exc, attempt + 1)
                if isinstance(exc, TransportLost):
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)
        reply = codec.decode_reply(raw)
        if isinstance(reply, m.ErrorReply):
            raise from_code(reply.code, reply.message)
        return reply

    def send(self, msg: Any) -> None:
        try:
            self.transport.send(codec.encode(msg))
        except TransportLost as exc:
            log.warning("could not send %s: %s", msg.kind, exc)

    def pump(self, seconds: float) -> None:
        try:
            self.transport.pump(seconds)
        except TransportLost as exc:
            log.warning("connection lost while idle: %s", exc)
            time.sleep(min(seconds, 0.5))

    def close(self) -> None:
        self.transport.close()


class InProcessTransport(WorkerTransport):
    """A WorkerTransport that hands each request straight to an in-process Coordinator."""

    def __init__(self, coordinator: Any) -> None:
        self.coordinator = coordinator
        self._lock = threading.Lock()

    def call(self, body: bytes, *, correlation_id: str, timeout: float) -> bytes:
        with self._lock:
            reply = self.coordinator.handle_body(body)
        assert reply is not None
        return reply

    def send(self, body: bytes) -> None:
        with self._lock:
            self.coordinator.handle_body(body)

    def pump(self, seconds: float) -> None:
        time.sleep(seconds)

    def close(self) -> None:
        """Nothing to close: the coordinator belongs to the caller."""
