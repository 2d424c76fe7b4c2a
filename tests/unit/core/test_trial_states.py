"""The trial state machine: exactly the allowed moves succeed, every other one is refused."""

from __future__ import annotations

import itertools

import pytest

from tunefleet.core.trial import ALLOWED, FailReason, TrialRecord, TrialState, move
from tunefleet.errors import IllegalMove

S = TrialState
EXPECTED_ALLOWED = {
    (S.WAITING, S.RUNNING),
    (S.RUNNING, S.COMPLETE),
    (S.RUNNING, S.PRUNED),
    (S.RUNNING, S.FAIL),
}
PAIRS = list(itertools.product(TrialState, repeat=2))


def test_the_table_is_the_designed_one() -> None:
    assert set(ALLOWED) == EXPECTED_ALLOWED
    assert len(PAIRS) == 25


@pytest.mark.parametrize(("start", "to"), PAIRS, ids=[f"{a.name}->{b.name}" for a, b in PAIRS])
def test_move(start: TrialState, to: TrialState) -> None:
    record = TrialRecord(number=7, state=start)
    if (start, to) in EXPECTED_ALLOWED:
        move(record, to)
        assert record.state is to
    else:
        with pytest.raises(IllegalMove, match=f"trial 7 cannot move from {start.name} to {to.name}"):
            move(record, to)
        assert record.state is start


@pytest.mark.parametrize(
    ("state", "finished"),
    [(S.WAITING, False), (S.RUNNING, False), (S.COMPLETE, True), (S.PRUNED, True), (S.FAIL, True)],
)
def test_finished_states(state: TrialState, finished: bool) -> None:
    assert state.is_finished() is finished


def test_codes_are_optunas() -> None:
    assert [(s.name, int(s)) for s in TrialState] == [
        ("RUNNING", 0), ("COMPLETE", 1), ("PRUNED", 2), ("FAIL", 3), ("WAITING", 4)
    ]


@pytest.mark.parametrize(
    ("reason", "users_fault"),
    [
        (FailReason.PREEMPTED, False),
        (FailReason.LOST, False),
        (FailReason.TIMEOUT, True),
        (FailReason.ERROR, True),
        (FailReason.NAN, True),
    ],
)
def test_only_the_users_failures_are_the_users_fault(reason: FailReason, users_fault: bool) -> None:
    assert reason.is_users_fault is users_fault
