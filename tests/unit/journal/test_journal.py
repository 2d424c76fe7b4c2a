"""The event journal: one contract for the SQLite journal and the in-memory one."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from tunefleet.core import events as ev
from tunefleet.core.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from tunefleet.core.settings import PluginSpec, StudySettings
from tunefleet.core.trial import FailReason, TrialState
from tunefleet.errors import JournalError
from tunefleet.journal import Journal, MemoryJournal, read_events

DISTS = {
    "lr": FloatDistribution(1e-5, 1.0, log=True),
    "bs": IntDistribution(8, 64, step=8),
    "opt": CategoricalDistribution(("adam", None, True, 3)),
}
PARAMS = {"lr": 0.01, "bs": 16, "opt": True}
EVENTS: list[ev.Event] = [
    ev.StudyCreated("s", "r0", 1.0, StudySettings(sampler=PluginSpec("random", {"seed": 1}),
                                                    space=dict(DISTS), n_trials=5)),
    ev.TrialEnqueued("s", "r1", 2.0, 0, dict(PARAMS), dict(DISTS), {"why": "baseline"}),
    ev.TrialStarted("s", "r2", 3.0, 0, "w1", dict(PARAMS), dict(DISTS)),
    ev.ParamSuggested("s", "r3", 4.0, 0, "extra", IntDistribution(1, 3), 2),
    ev.IntermediateReported("s", "r4", 5.0, 0, {0: 0.5, 7: math.inf}, False, 8),
    ev.TrialFinished("s", "r5", 6.0, 0, TrialState.COMPLETE, (0.25,), dict(PARAMS),
                     dict(DISTS), {"host": "n1"}, (0.0,)),
    ev.TrialStarted("t", "r6", 7.0, 0, "w2", {}, {}),
    ev.LeaseLapsed("t", None, 8.0, 0, "w2"),
    ev.TrialEnqueued("t", None, 8.0, 1, {}, {}, {}, retry_of=0, attempt=1),
    ev.TrialFinished("s", "r7", 9.0, 1, TrialState.FAIL, None, {}, {}, {}, None,
                     FailReason.ERROR, "ZeroDivisionError"),
    ev.LateTellRecorded("s", "r8", 10.0, 0, TrialState.COMPLETE, (1.0,)),
    ev.TrialAdded("s", "r9", 11.0, 2, TrialState.COMPLETE, (3.0,), {"lr": 0.1},
                  {"lr": DISTS["lr"]}, {0: 1.0, 2: 0.5}, {}, None, 10.5),
    ev.BudgetSet("s", "r10", 12.0, None),
    ev.PluginsSet("s", "r12", 12.5, PluginSpec("random", {"seed": 4}), None),
    ev.StudyStopped("s", "r11", 13.0),
]


class Store:
    """How to open a journal kind again on the same storage."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.path = tmp_path / "deep" / "dir" / "journal.db"
        self._memory = MemoryJournal()
        self._open: list[Any] = []

    def open(self) -> Any:
        journal = Journal(self.path) if self.kind == "sqlite" else self._memory
        self._open.append(journal)
        return journal

    def close_all(self) -> None:
        for journal in self._open:
            journal.close()


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = Store(request.param, tmp_path)
    yield s
    s.close_all()


def test_append_commit_replay_round_trips_every_event(store: Store) -> None:
    assert {type(e) for e in EVENTS} == set(ev.BY_CODE.values())
    journal = store.open()
    journal.append(EVENTS)
    journal.commit()
    back = list(journal.replay())
    assert back == EVENTS
    reported = back[4]
    assert isinstance(reported, ev.IntermediateReported)
    assert all(type(step) is int for step in reported.values)


def test_commits_accumulate_in_order(store: Store) -> None:
    journal = store.open()
    for e in EVENTS:
        journal.append(iter([e]))  # any iterable
        journal.commit()
    journal.commit()  # nothing pending: nothing happens
    assert list(journal.replay()) == EVENTS


def test_only_committed_events_are_replayed(store: Store) -> None:
    journal = store.open()
    journal.append(EVENTS[:3])
    assert list(journal.replay()) == []
    journal.commit()
    journal.append(EVENTS[3:])
    assert list(journal.replay()) == EVENTS[:3]


def test_uncommitted_events_are_lost_on_close(store: Store) -> None:
    journal = store.open()
    journal.append(EVENTS[:2])
    journal.commit()
    journal.append(EVENTS[2:])
    journal.close()
    again = store.open()
    assert list(again.replay()) == EVENTS[:2]
    again.append(EVENTS[2:4])
    again.commit()
    assert list(again.replay()) == EVENTS[:4]


# ---- the SQLite journal: the file, the lock, readers ---------------------------------------------
def test_a_second_writer_is_kept_out_while_the_first_is_open(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    first = Journal(path)
    with pytest.raises(JournalError, match="in use by another coordinator"):
        Journal(path)
    first.append(EVENTS[:1])
    first.commit()  # the refused second one did not disturb the first
    first.close()
    second = Journal(path)
    assert list(second.replay()) == EVENTS[:1]
    second.close()


def test_read_events_reads_what_was_committed_while_the_writer_runs(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    writer = Journal(path)
    writer.append(EVENTS[:5])
    writer.commit()
    writer.append(EVENTS[5:])
    assert list(read_events(path)) == EVENTS[:5]
    writer.commit()
    assert list(read_events(path)) == EVENTS
    writer.close()
    assert list(read_events(path)) == EVENTS


def file_with(content: bytes) -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        path = tmp_path / "not-a-journal.db"
        path.write_bytes(content)
        return path

    return make


def other_sqlite(tmp_path: Path) -> Path:
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE things (x)")
    db.commit()
    db.close()
    return path


@pytest.mark.parametrize(
    "make",
    [file_with(b"this is a CSV file, not a database\n" * 100), file_with(b"\x00" * 4096)],
    ids=["text", "zeros"],
)
def test_a_file_that_is_not_a_journal(tmp_path: Path, make: Callable[[Path], Path]) -> None:
    path = make(tmp_path)
    with pytest.raises(JournalError, match="is not a tunefleet journal"):
        Journal(path)
    with pytest.raises(JournalError, match="is not a tunefleet journal"):
        list(read_events(path))
    path.unlink()
    Journal(path).close()  # the refused open left no lock behind


def test_read_events_of_another_database_or_no_file(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="is not a tunefleet journal"):
        list(read_events(other_sqlite(tmp_path)))
    with pytest.raises(JournalError, match="there is no journal at"):
        list(read_events(tmp_path / "missing.db"))


def test_a_journal_of_another_format_is_refused_and_left_unlocked(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    Journal(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value='2' WHERE key='format'")
    db.commit()
    db.close()
    for _ in range(2):  # the second time too: not "in use"
        with pytest.raises(JournalError, match="has format 2; this tunefleet reads 1"):
            Journal(path)


@pytest.mark.parametrize(
    ("code", "body"),
    [(99, {"study": "s"}), (8, b"\xc1"), (8, {"study": "s", "at": 1.0})],
    ids=["unknown-code", "not-msgpack", "missing-field"],
)
def test_an_event_that_cannot_be_read_is_a_journal_error(
    tmp_path: Path, code: int, body: Any
) -> None:
    path = tmp_path / "j.db"
    Journal(path).close()
    blob = body if isinstance(body, bytes) else msgpack.packb(body)
    db = sqlite3.connect(path)
    db.execute("INSERT INTO events (study, code, request_id, at, body) VALUES ('s', ?, NULL, 1, ?)",
               (code, blob))
    db.commit()
    db.close()
    with pytest.raises(JournalError, match=f"event \\(code {code}\\) cannot be read"):
        list(read_events(path))
    journal = Journal(path)
    with pytest.raises(JournalError, match="cannot be read"):
        list(journal.replay())
    journal.close()
