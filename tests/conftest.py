"""Shared fixtures: the broker for broker tests, and a namespace of queues per test."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672/%2F"
HOW_TO = (
    "no RabbitMQ at {where}: start one with `bash scripts/ensure-rabbitmq.sh` "
    "(or `rabbitmq-server -detached`), or point TUNEFLEET_TEST_BROKER at one"
)


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 3):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def broker_url() -> str:
    """The broker for broker tests; fails (not skips) when CI=true and it is missing."""
    url = os.environ.get("TUNEFLEET_TEST_BROKER", DEFAULT_BROKER)
    if not _reachable(url):
        parts = urlsplit(url)
        message = HOW_TO.format(where=f"{parts.hostname}:{parts.port or 5672}")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture()
def namespace(broker_url: str) -> Iterator[str]:
    """Queue names of this test only; deleted afterwards."""
    from tunefleet.transport.amqp import purge
    from tunefleet.transport.topology import Topology

    ns = f"tftest.{uuid.uuid4().hex[:10]}"
    yield ns
    purge(broker_url, Topology(ns))
