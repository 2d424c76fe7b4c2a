"""Shared fixtures: the broker for broker tests, and a namespace of queues per test.

Broker tests are marked ``@pytest.mark.broker`` and take ``broker_url``. Without a
reachable broker they are skipped, except under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tunefleet.errors import BrokerError

DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672/%2F"
HOW_TO = (
    "no usable RabbitMQ at {where} ({why}): start one with `bash scripts/ensure-rabbitmq.sh` "
    "or `rabbitmq-server -detached`, or set TUNEFLEET_TEST_BROKER to the URL of one"
)


def _unusable(url: str) -> str | None:
    """Why ``url`` cannot serve the broker tests, or None if it can."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 3):
            pass
    except OSError as exc:
        return f"TCP: {exc.strerror or exc}"
    try:
        _purge(url, f"tftest.probe.{uuid.uuid4().hex[:8]}")  # an AMQP round trip, no traces
    except BrokerError as exc:
        return f"AMQP: {exc}"
    return None


@pytest.fixture(scope="session")
def broker_url() -> str:
    """The broker's URL; skips the test without one, or fails it when CI=true."""
    url = os.environ.get("TUNEFLEET_TEST_BROKER", DEFAULT_BROKER)
    why = _unusable(url)
    if why is not None:
        parts = urlsplit(url)
        message = HOW_TO.format(where=f"{parts.hostname}:{parts.port or 5672}", why=why)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


def _purge(url: str, namespace: str) -> None:
    """Delete ``namespace``'s queues, riding over a broker that is (re)starting for up to 20 s."""
    from tunefleet.transport.amqp import purge
    from tunefleet.transport.topology import Topology

    deadline = time.monotonic() + 20
    while True:
        try:
            purge(url, Topology(namespace))
            return
        except BrokerError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


@pytest.fixture()
def namespace(broker_url: str) -> Iterator[str]:
    """Queue names of this test only; its queues are deleted afterwards."""
    ns = f"tftest.{uuid.uuid4().hex[:10]}"
    yield ns
    _purge(broker_url, ns)
