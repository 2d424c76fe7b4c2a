"""The wire codec: every message round-trips; anything else is a BadMessage with a reason."""

from __future__ import annotations

import typing
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunefleet.errors import BadMessage
from tunefleet.protocol import codec
from tunefleet.protocol import messages as m

ENV = {"request_id": "req-1", "study": "rocksdb"}
FLOAT = {"type": "float", "low": 1e-5, "high": 1.0, "log": True, "step": None}
INT = {"type": "int", "low": 0, "high": 64, "log": False, "step": 8}
CAT = {"type": "categorical", "choices": ["a", 1, 2.5, True, None]}

REQUESTS: list[Any] = [
    m.CreateStudy(**ENV),
    m.CreateStudy(
        **ENV,
        directions=["maximize", "minimize"],
        sampler=m.Plugin(name="random", options={"seed": 3}),
        pruner=m.Plugin(name="median", options={"n_warmup_steps": 2}),
        space={"lr": FLOAT, "bs": INT, "opt": CAT},
        n_trials=100,
        max_concurrent=8,
        max_retry=2,
        retry_lost=False,
        lease_seconds=30.0,
        objective={"function": "mod:fn", "path": "/tmp"},
        load_if_exists=True,
    ),
    m.Ask(**ENV, worker_id="node7/12"),
    m.Suggest(**ENV, trial=3, name="lr", distribution=FLOAT),
    m.Suggest(**ENV, trial=3, name="opt", distribution=CAT),
    m.Report(**ENV, trial=3, steps=[0, 5], values=[0.5, float("inf")]),
    m.Tell(**ENV, trial=3, state="complete", values=[1.5, -2.0],
           params={"lr": 0.01, "bs": 8, "opt": None, "flag": True, "name": "x"},
           distributions={"lr": FLOAT, "bs": INT, "opt": CAT},
           user_attrs={"host": "n1", "list": [1, 2]}, constraints=[0.0]),
    m.Tell(**ENV, trial=4, state="fail", reason="preempted", message="SIGTERM"),
    m.Tell(**ENV, trial=5, state="pruned"),
    m.Heartbeat(**ENV, worker_id="w", trials=[1, 2, 3]),
    m.Heartbeat(**ENV, worker_id="w"),
    m.Enqueue(**ENV, params={"lr": 0.1, "opt": "a"}, user_attrs={"why": "baseline"}),
    m.AddTrial(**ENV, state="complete", values=[1.0], params={"lr": 0.1},
               distributions={"lr": FLOAT}, steps=[0, 1], intermediate=[2.0, 1.0],
               user_attrs={}, constraints=[-1.0], started_at=12.5),
    m.Query(**ENV, what="best"),
    m.StopStudy(**ENV),
    m.SetBudget(**ENV, n_trials=50),
    m.SetBudget(**ENV, n_trials=None),
    m.Configure(**ENV, sampler=m.Plugin(name="random", options={"seed": 1})),
]

REPLIES: list[Any] = [
    m.TrialReply(**ENV, number=3, params={"lr": 0.1, "opt": None}, distributions={"lr": FLOAT}),
    m.WaitReply(**ENV, retry_after=0.5),
    m.DoneReply(**ENV, reason="budget spent"),
    m.ValueReply(**ENV, value=None),
    m.ValueReply(**ENV, value=True),
    m.PruneReply(**ENV, prune=True, next_step=4),
    m.OkReply(**ENV, number=7),
    m.StudyReply(**ENV, created=False, settings={"n_trials": 3}),
    m.DataReply(**ENV, data=[{"number": 1, "values": [1.0]}]),
    m.ErrorReply(**ENV, code="no_trial", message="study 's' has no trial 9"),
]


def kinds(union: Any) -> set[str]:
    members = typing.get_args(typing.get_args(union)[0])
    return {cls.model_fields["kind"].default for cls in members}


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def test_the_examples_cover_every_kind() -> None:
    assert {r.kind for r in REQUESTS} == kinds(m.Request)
    assert {r.kind for r in REPLIES} == kinds(m.Reply)


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: r.kind)
def test_requests_round_trip(request_: Any) -> None:
    back = codec.decode_request(codec.encode(request_))
    assert back == request_
    assert type(back) is type(request_)


@pytest.mark.parametrize("reply", REPLIES, ids=lambda r: r.kind)
def test_replies_round_trip(reply: Any) -> None:
    back = codec.decode_reply(codec.encode(reply))
    assert back == reply
    assert type(back) is type(reply)


def test_param_values_keep_their_types() -> None:
    """True is not 1 and 1.0 is not 1, on the wire as in the study."""
    tell = m.Tell(**ENV, trial=0, state="complete", values=[1.0],
                  params={"b": True, "i": 1, "f": 1.0, "n": None, "s": "1"})
    back = codec.decode_request(codec.encode(tell))
    assert {k: type(v) for k, v in back.params.items()} == {
        "b": bool, "i": int, "f": float, "n": type(None), "s": str
    }


def ask(**changes: Any) -> dict[str, Any]:
    body = {"v": 1, "kind": "ask", "request_id": "r", "study": "s", "worker_id": "w"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def report(**changes: Any) -> dict[str, Any]:
    body = {"v": 1, "kind": "report", "request_id": "r", "study": "s", "trial": 3,
            "steps": [0], "values": [1.0]}
    body.update(changes)
    return body


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\xc1\xff garbage", "not valid msgpack"),
        (b"", "not valid msgpack"),
        (pack(ask()) + b"\x00", "not valid msgpack"),  # trailing bytes
        (pack([1, "ask"]), "must be a map, got list"),
        (pack("ask"), "must be a map, got str"),
        (pack({1: "a"}), "not valid msgpack"),  # keys must be strings
        (pack(ask(v=2)), "protocol version 2 is not supported; this side speaks version 1"),
        (pack(ask(v=...)), "protocol version None is not supported"),
        (pack(ask(v=True)), "protocol version True is not supported"),
        (pack(ask(v=1.0)), "protocol version 1.0 is not supported"),
        (pack(ask(v="1")), "protocol version '1' is not supported"),
        (pack(ask(kind="dance")), "invalid dance: .*does not match any of the expected tags"),
        (pack(ask(kind=...)), "invalid message: .*kind"),
        (pack(ask(colour="red")), "invalid ask: .*colour: Extra inputs are not permitted"),
        (pack(ask(worker_id=...)), "invalid ask: .*worker_id: Field required"),
        (pack(ask(worker_id="")), "invalid ask: .*worker_id: String should have at least 1"),
        (pack(ask(request_id=7)), "invalid ask: .*request_id: Input should be a valid string"),
        (pack(report(trial="3")), "invalid report: .*trial: Input should be a valid integer"),
        (pack(report(trial=-1)), "invalid report: .*trial: Input should be greater than"),
        (pack(report(trial=True)), "invalid report: .*trial: Input should be a valid integer"),
        (pack(report(steps=[0, 1])), "invalid report: .*2 steps but 1 values"),
        (pack(report(values=["1.0"])), "invalid report: .*values.0: Input should be a valid"),
        (pack(report(steps=[-1])), "invalid report: .*steps.0: Input should be greater than"),
        (b"\x00" * (codec.MAX_MESSAGE_BYTES + 1), "over the 4194304-byte limit"),
    ],
    ids=lambda x: x[:50] if isinstance(x, str) else "",
)
def test_bad_requests_are_refused_with_a_reason(data: bytes, match: str) -> None:
    with pytest.raises(BadMessage, match=match):
        codec.decode_request(data)


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "add_trial", "state": "complete", "steps": [0, 1], "intermediate": [1.0]},
        {"kind": "tell", "trial": 0, "state": "done"},
        {"kind": "tell", "trial": 0, "state": "fail", "reason": "bored"},
        {"kind": "suggest", "trial": 0, "name": "x", "distribution": {"type": "normal"}},
        {"kind": "suggest", "trial": 0, "name": "x",
         "distribution": {"type": "float", "low": 0.0, "high": 1.0, "extra": 1}},
        {"kind": "create_study", "directions": []},
        {"kind": "create_study", "directions": ["up"]},
        {"kind": "enqueue", "params": {"x": [1, 2]}},
        {"kind": "query", "what": "everything"},
        {"kind": "set_budget", "n_trials": -1},
    ],
    ids=lambda b: b["kind"],
)
def test_bad_bodies_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(BadMessage, match=f"invalid {body['kind']}: "):
        codec.decode_request(pack({"v": 1, "request_id": "r", "study": "s", **body}))


def test_a_reply_is_not_a_request_and_a_request_not_a_reply() -> None:
    with pytest.raises(BadMessage, match="invalid wait"):
        codec.decode_request(codec.encode(REPLIES[1]))
    with pytest.raises(BadMessage, match="invalid reply ask"):
        codec.decode_reply(codec.encode(REQUESTS[2]))


def test_encoding_a_message_over_the_limit_is_refused() -> None:
    big = m.Enqueue(**ENV, params={"x": "y" * codec.MAX_MESSAGE_BYTES})
    with pytest.raises(BadMessage, match="enqueue of .* bytes is over the 4194304-byte limit"):
        codec.encode(big)


def test_error_reasons_are_short_even_for_many_errors() -> None:
    body = {"v": 1, "kind": "tell", "request_id": "r", "study": "s", **{
        f"junk{i}": i for i in range(50)}}
    with pytest.raises(BadMessage) as info:
        codec.decode_request(pack(body))
    assert len(str(info.value)) < 400


# ---- peek ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (pack(ask()), ("ask", "r", "s")),
        (pack(ask(v=99, colour="red")), ("ask", "r", "s")),  # invalid, still addressed
        (pack({"kind": 3, "request_id": "", "study": "x" * 201}), (None, None, None)),
        (b"\xc1 garbage", (None, None, None)),
        (b"", (None, None, None)),
        (pack([1, 2]), (None, None, None)),
        (pack({1: 2}), (None, None, None)),
    ],
    ids=["valid", "invalid", "bad-fields", "garbage", "empty", "list", "int-keys"],
)
def test_peek(data: bytes, expected: tuple[Any, ...]) -> None:
    assert codec.peek(data) == expected


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_never_escapes_as_another_error(data: bytes) -> None:
    kind, request_id, study = codec.peek(data)
    assert all(x is None or isinstance(x, str) for x in (kind, request_id, study))
    with pytest.raises(BadMessage):
        codec.decode_request(data)
    with pytest.raises(BadMessage):
        codec.decode_reply(data)
