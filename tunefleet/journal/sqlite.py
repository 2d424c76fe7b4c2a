"""The event journal: an append-only SQLite table (WAL mode), one per coordinator.

Only the coordinator writes it (a lock file beside it keeps a second coordinator
out); anything may read it, also while the coordinator runs. Writes are grouped:
``append`` adds events to the open transaction, ``commit`` makes them durable with
one fsync (``synchronous=FULL``), which is what lets the coordinator answer a whole
batch of requests per fsync.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgpack

from tunefleet.core import events as ev
from tunefleet.errors import JournalError

FORMAT = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    study TEXT NOT NULL,
    code INTEGER NOT NULL,
    request_id TEXT,
    at REAL NOT NULL,
    body BLOB NOT NULL
);
"""


def _pack(event: ev.Event) -> tuple[str, int, str | None, float, bytes]:
    code, body = ev.encode(event)
    blob = msgpack.packb(body, use_bin_type=True)
    return event.study, code, event.request_id, event.at, blob


def _unpack(code: int, blob: bytes) -> ev.Event:
    try:
        return ev.decode(code, msgpack.unpackb(blob, raw=False, strict_map_key=False))
    except (KeyError, TypeError, ValueError) as exc:  # msgpack's errors are ValueErrors
        raise JournalError(
            f"a journal event (code {code}) cannot be read ({type(exc).__name__}: {exc}); "
            "was the journal written by a newer tunefleet?"
        ) from None


class Journal:
    """A writable journal. Raises JournalError if another process holds it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise JournalError(f"cannot open the journal {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise JournalError(
                f"the journal {self.path} is in use by another coordinator; "
                "stop it first, or give this one its own --journal"
            ) from None
        try:
            self._db = sqlite3.connect(str(self.path), isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key='format'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('format', ?)", (str(FORMAT),))
            elif int(row[0]) != FORMAT:
                self.close()  # release the lock, or the next open would say "in use"
                raise JournalError(
                    f"the journal {self.path} has format {row[0]}; this tunefleet reads {FORMAT}"
                )
        except sqlite3.DatabaseError as exc:
            self.close()
            raise JournalError(f"{self.path} is not a tunefleet journal: {exc}") from None
        self._pending: list[tuple[str, int, str | None, float, bytes]] = []

    def append(self, events: Iterable[ev.Event]) -> None:
        self._pending.extend(_pack(e) for e in events)

    def commit(self) -> None:
        """Make every appended event durable (one transaction, one fsync)."""
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO events (study, code, request_id, at, body) VALUES (?,?,?,?,?)", rows
            )
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise JournalError(f"cannot write the journal {self.path}: {exc}") from None

    def replay(self) -> Iterator[ev.Event]:
        for code, blob in self._db.execute("SELECT code, body FROM events ORDER BY seq"):
            yield _unpack(code, blob)

    def close(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()
            self._db = None  # type: ignore[assignment]
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


class MemoryJournal:
    """The same interface, in memory: for in-memory studies and tests."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []
        self._pending: list[ev.Event] = []

    def append(self, events: Iterable[ev.Event]) -> None:
        self._pending.extend(events)

    def commit(self) -> None:
        self.events.extend(self._pending)
        self._pending = []

    def replay(self) -> Iterator[ev.Event]:
        return iter(list(self.events))

    def close(self) -> None:
        self._pending = []


def read_events(path: str | os.PathLike[str]) -> Iterator[ev.Event]:
    """Every event of the journal at ``path``, read-only (the coordinator may be writing)."""
    p = Path(path)
    if not p.exists():
        raise JournalError(f"there is no journal at {p}; give the path the coordinator wrote")
    try:
        db = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT code, body FROM events ORDER BY seq").fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"{p} is not a tunefleet journal: {exc}") from None
    for code, blob in rows:
        yield _unpack(code, blob)
