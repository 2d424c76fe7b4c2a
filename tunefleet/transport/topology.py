"""Names of queues and exchanges, derived from one namespace (default ``tunefleet``).

Several fleets (or test runs) can share a broker vhost by using different namespaces.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_NAMESPACE = "tunefleet"


@dataclass(frozen=True)
class Topology:
    namespace: str = DEFAULT_NAMESPACE

    @property
    def requests(self) -> str:
        """The durable queue the coordinator consumes."""
        return f"{self.namespace}.coordinator"

    @property
    def dead(self) -> str:
        """Where messages that do not decode or validate are parked, with the reason."""
        return f"{self.namespace}.dead"

    @property
    def events(self) -> str:
        """Topic exchange of trial/study events for dashboards."""
        return f"{self.namespace}.events"
