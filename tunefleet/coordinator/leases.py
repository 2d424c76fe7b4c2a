"""Leases on RUNNING trials: a trial whose worker stays silent past its deadline is lost.

Pure bookkeeping with ``now`` passed in; kept in memory only. After a restart the
coordinator grants every RUNNING trial a fresh lease, since it could not hear
heartbeats while it was down.
"""

from __future__ import annotations

Key = tuple[str, int]  # (study, trial number)


class Leases:
    def __init__(self) -> None:
        self._deadline: dict[Key, float] = {}
        self._worker: dict[Key, str | None] = {}

    def grant(self, key: Key, worker: str | None, until: float) -> None:
        self._deadline[key] = until
        self._worker[key] = worker

    def renew(self, worker: str, keys: list[Key], until: dict[str, float]) -> None:
        """A heartbeat from ``worker`` for ``keys``; ``until`` maps study -> new deadline."""
        for key in keys:
            if key in self._deadline and self._worker.get(key) == worker:
                self._deadline[key] = until[key[0]]

    def release(self, key: Key) -> None:
        self._deadline.pop(key, None)
        self._worker.pop(key, None)

    def lapsed(self, now: float) -> list[Key]:
        return sorted(k for k, t in self._deadline.items() if t < now)

    def __len__(self) -> int:
        return len(self._deadline)
