"""Journal events: stable codes, and encode -> msgpack -> decode gives the same event."""

from __future__ import annotations

import dataclasses
import math

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunefleet.core import events as ev
from tunefleet.core.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from tunefleet.core.settings import Direction, PluginSpec, StudySettings
from tunefleet.core.trial import FailReason, TrialState

F = FloatDistribution(0.0, 1.0)
I = IntDistribution(1, 64, log=True)  # noqa: E741
C = CategoricalDistribution(("adam", None, True, 2, 0.5))
DISTS = {"lr": F, "batch": I, "opt": C}
PARAMS = {"lr": 0.25, "batch": 32, "opt": None}

EXAMPLES: list[ev.Event] = [
    ev.StudyCreated(
        "s",
        "r1",
        1.0,
        StudySettings(
            directions=(Direction.MAXIMIZE, Direction.MINIMIZE),
            sampler=PluginSpec("random", {"seed": 3}),
            space=dict(DISTS),
            n_trials=10,
            max_concurrent=4,
            max_retry=2,
            retry_lost=False,
            lease_seconds=5.0,
            objective={"function": "mod:fn"},
        ),
    ),
    ev.StudyCreated("s", None, 1.0, StudySettings()),
    ev.TrialEnqueued("s", "r2", 2.0, 0, dict(PARAMS), dict(DISTS), {"note": [1, "a"]}),
    ev.TrialEnqueued("s", None, 2.0, 5, {"x": 1.0}, {}, {}, retry_of=3, attempt=2),
    ev.TrialStarted("s", "r3", 3.0, 1, "w1", dict(PARAMS), dict(DISTS)),
    ev.ParamSuggested("s", "r4", 4.0, 1, "opt", C, True),
    ev.ParamSuggested("s", "r4b", 4.0, 1, "opt", C, None),
    ev.IntermediateReported("s", "r5", 5.0, 1, {0: 0.5, 3: -1.0, 10: math.inf}, True, 12),
    ev.IntermediateReported("s", "r5b", 5.0, 1, {2: 0.5}, False, None),
    ev.TrialFinished(
        "s", "r6", 6.0, 1, TrialState.COMPLETE, (0.5, 2.0), dict(PARAMS), dict(DISTS),
        {"k": "v"}, (0.0, -1.0), None, None,
    ),
    ev.TrialFinished(
        "s", "r7", 6.0, 2, TrialState.FAIL, None, {}, {}, {}, None, FailReason.NAN, "nan!"
    ),
    ev.TrialFinished("s", "r8", 6.0, 3, TrialState.PRUNED, (1.0,), {}, {}),
    ev.LeaseLapsed("s", None, 7.0, 4, "w2"),
    ev.LeaseLapsed("s", None, 7.0, 4, None),
    ev.StudyStopped("s", "r9", 8.0),
    ev.BudgetSet("s", "r10", 9.0, 20),
    ev.BudgetSet("s", "r11", 9.0, None),
    ev.PluginsSet("s", "r13", 9.5, PluginSpec("random", {"seed": 4}), None),
    ev.PluginsSet("s", "r14", 9.6, None, PluginSpec("median", {"n_startup_trials": 2})),
    ev.LateTellRecorded("s", "r12", 10.0, 1, TrialState.COMPLETE, (3.0,)),
    ev.LateTellRecorded("s", "r13", 10.0, 1, TrialState.FAIL, None),
    ev.TrialAdded(
        "s", "r14", 11.0, 6, TrialState.COMPLETE, (1.5,), dict(PARAMS), dict(DISTS),
        {0: 1.0, 1: 0.5}, {"src": "old"}, (0.1,), 0.5,
    ),
]


def through_msgpack(event: ev.Event) -> ev.Event:
    code, body = ev.encode(event)
    blob = msgpack.packb(body, use_bin_type=True)
    return ev.decode(code, msgpack.unpackb(blob, raw=False, strict_map_key=False))


def test_codes_are_stable() -> None:
    assert {code: cls.__name__ for code, cls in ev.BY_CODE.items()} == {
        1: "StudyCreated",
        2: "TrialEnqueued",
        3: "TrialStarted",
        4: "ParamSuggested",
        5: "IntermediateReported",
        6: "TrialFinished",
        7: "LeaseLapsed",
        8: "StudyStopped",
        9: "BudgetSet",
        10: "LateTellRecorded",
        11: "TrialAdded",
        12: "PluginsSet",
    }


def test_the_examples_cover_every_event() -> None:
    assert {type(e) for e in EXAMPLES} == set(ev.BY_CODE.values())


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_encode_decode_round_trip(event: ev.Event) -> None:
    assert ev.decode(*ev.encode(event)) == event


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_the_encoded_form_survives_msgpack(event: ev.Event) -> None:
    back = through_msgpack(event)
    assert back == event
    for f in dataclasses.fields(event):  # not only equal: of the same types (1 == 1.0 == True)
        assert type(getattr(back, f.name)) is type(getattr(event, f.name)), f.name


def test_intermediate_steps_stay_ints_after_msgpack() -> None:
    back = through_msgpack(EXAMPLES[7])
    assert isinstance(back, ev.IntermediateReported)
    assert all(type(k) is int for k in back.values)


def test_decode_fills_in_defaults_for_fields_an_older_journal_lacks() -> None:
    code, body = ev.encode(ev.TrialEnqueued("s", None, 1.0, 0, {"x": 1}))
    for name in ("distributions", "user_attrs", "retry_of", "attempt"):
        del body[name]
    assert ev.decode(code, body) == ev.TrialEnqueued("s", None, 1.0, 0, {"x": 1})


@settings(max_examples=60, deadline=None)
@given(
    values=st.dictionaries(
        st.integers(0, 2**31), st.floats(allow_nan=False), min_size=1, max_size=5
    ),
    prune=st.booleans(),
    next_step=st.none() | st.integers(0, 100),
)
def test_reports_round_trip(values, prune, next_step) -> None:
    event = ev.IntermediateReported("s", "r", 0.0, 3, values, prune, next_step)
    assert through_msgpack(event) == event
