"""One study's state machine: commands in, events and replies out; replay equals live state."""

from __future__ import annotations

import itertools
import math
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunefleet.core import events as ev
from tunefleet.core.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from tunefleet.core.replies import NEVER
from tunefleet.core.settings import Direction, PluginSpec, StudySettings
from tunefleet.core.study import (
    Accepted,
    Done,
    PruneAnswer,
    Refused,
    Study,
    Suggested,
    TrialAssigned,
    Wait,
)
from tunefleet.core.trial import FailReason, TrialState
from tunefleet.errors import (
    ConfigError,
    InvalidValue,
    TrialFinishedError,
    TrialNotFound,
    TunefleetError,
)
from tunefleet.pruners import MedianPruner, NopPruner
from tunefleet.samplers import RandomSampler

X = FloatDistribution(0.0, 1.0)
Y = IntDistribution(1, 100, log=True)
C = CategoricalDistribution(("a", "b", None))
S = TrialState


class Driver:
    """A study and a clock that only moves forward; every command gets a fresh request id."""

    def __init__(
        self, seed: int = 0, pruner: Any = None, settings: StudySettings | None = None,
        **options: Any,
    ) -> None:
        self.study = Study("s", settings or StudySettings(**options), RandomSampler(seed=seed),
                           pruner or NopPruner())
        self._ids = itertools.count()
        self._clock = itertools.count(1)

    def kw(self) -> dict[str, Any]:
        return {"request_id": f"r{next(self._ids)}", "now": float(next(self._clock))}

    def ask(self, worker: str = "w") -> Any:
        return self.study.ask(worker, **self.kw())[1]

    def suggest(self, number: int, name: str, dist: Any) -> Any:
        reply = self.study.suggest(number, name, dist, **self.kw())[1]
        assert isinstance(reply, Suggested)
        return reply.value

    def tell(self, number: int, state: TrialState = S.COMPLETE, **kw: Any) -> Any:
        if state == S.COMPLETE and "values" not in kw:
            kw["values"] = 1.0
        return self.study.tell(number, state, **kw, **self.kw())

    def run(self, value: float = 1.0) -> int:
        """Ask, suggest x, tell COMPLETE: one whole trial. Returns its number."""
        reply = self.ask()
        assert isinstance(reply, TrialAssigned), reply
        self.suggest(reply.number, "x", X)
        self.tell(reply.number, values=value)
        return reply.number


# ---- ask: numbers, enqueued trials, budget, concurrency -----------------------------------------
def test_ask_hands_out_numbers_in_order() -> None:
    d = Driver()
    assert [d.ask().number for _ in range(4)] == [0, 1, 2, 3]
    assert [r.state for r in d.study.trials] == [S.RUNNING] * 4


def test_enqueued_trials_are_handed_out_first_in_order_with_their_params() -> None:
    d = Driver()
    assert d.ask().number == 0
    _, a = d.study.enqueue({"x": 0.25}, user_attrs={"why": "a"}, **d.kw())
    _, b = d.study.enqueue({"x": 0.75}, **d.kw())
    assert (a, b) == (Accepted(1), Accepted(2))
    assert d.study.trial(1).state is S.WAITING
    first, second, third = d.ask(), d.ask(), d.ask()
    assert (first.number, first.params) == (1, {"x": 0.25})
    assert (second.number, second.params) == (2, {"x": 0.75})
    assert third.number == 3
    assert d.study.trial(1).user_attrs == {"why": "a"}
    assert d.suggest(1, "x", X) == 0.25  # the enqueued value is what the objective gets


def test_enqueue_with_a_static_space_checks_the_values_and_keeps_the_distributions() -> None:
    d = Driver(space={"x": X, "c": C})
    with pytest.raises(InvalidValue, match="'x': 2.0 is outside"):
        d.study.enqueue({"x": 2.0}, **d.kw())
    d.study.enqueue({"x": 0.5}, **d.kw())
    reply = d.ask()
    assert reply.params["x"] == 0.5
    assert reply.params["c"] in C.choices
    assert reply.distributions == {"x": X, "c": C}


def test_an_enqueued_value_outside_the_space_is_resampled_not_handed_out_untellable() -> None:
    d = Driver()
    d.run()  # now "x" is in the intersection space, sampled at ask
    d.study.enqueue({"x": 5.0}, **d.kw())
    reply = d.ask()
    assert reply.params == {"x": 5.0}
    assert "x" not in reply.distributions  # no distribution the value does not fit
    value = d.suggest(reply.number, "x", X)
    assert X.contains(value)
    d.tell(reply.number, values=0.0)
    assert d.study.trial(reply.number).state is S.COMPLETE


def test_budget_waits_for_running_trials_then_is_done() -> None:
    d = Driver(n_trials=2)
    a, b = d.ask(), d.ask()
    assert isinstance(d.ask(), Wait)  # a running trial may yet fail and be retried
    d.tell(a.number)
    assert isinstance(d.ask(), Wait)
    assert not d.study.is_done()
    d.tell(b.number)
    assert d.ask() == Done("budget spent")
    assert d.study.is_done()
    assert len(d.study.trials) == 2


def test_a_zero_budget_is_done_at_once() -> None:
    assert Driver(n_trials=0).ask() == Done("budget spent")


def test_max_concurrent_makes_workers_wait() -> None:
    d = Driver(max_concurrent=2)
    a, _ = d.ask(), d.ask()
    assert isinstance(d.ask(), Wait)
    d.study.enqueue({"x": 0.5}, **d.kw())
    assert isinstance(d.ask(), Wait)  # also for enqueued trials
    d.tell(a.number)
    assert d.ask().params == {"x": 0.5}
    assert isinstance(d.ask(), Wait)


def test_asks_that_wait_or_are_done_record_nothing() -> None:
    d = Driver(n_trials=1, max_concurrent=1)
    d.ask()
    events, reply = d.study.ask("w", **d.kw())
    assert (events, type(reply)) == ([], Wait)


# ---- suggest ---------------------------------------------------------------------------------
def test_suggest_is_stable_for_the_same_name_and_distribution() -> None:
    d = Driver()
    n = d.ask().number
    first = d.suggest(n, "x", X)
    events, reply = d.study.suggest(n, "x", FloatDistribution(0, 1), **d.kw())
    assert (events, reply) == ([], Suggested(first))
    assert d.study.trial(n).params == {"x": first}


def test_suggest_with_another_distribution_for_a_name_is_refused() -> None:
    d = Driver()
    n = d.ask().number
    d.suggest(n, "x", X)
    with pytest.raises(InvalidValue, match="'x' of trial 0 was already suggested") as info:
        d.study.suggest(n, "x", FloatDistribution(0.0, 2.0), **d.kw())
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("prepare", "error"),
    [
        ("finished", TrialFinishedError),
        ("waiting", TrialNotFound),
        ("unknown", TrialNotFound),
    ],
)
def test_suggest_and_report_need_a_running_trial(prepare: str, error: type[Exception]) -> None:
    d = Driver()
    number = 5
    if prepare == "finished":
        number = d.run()
    elif prepare == "waiting":
        number = d.study.enqueue({}, **d.kw())[1].number
    with pytest.raises(error):
        d.study.suggest(number, "x", X, **d.kw())
    with pytest.raises(error):
        d.study.report(number, {0: 1.0}, **d.kw())


# ---- report ----------------------------------------------------------------------------------
def test_report_records_values_and_answers_with_the_pruners_decision() -> None:
    d = Driver()
    n = d.ask().number
    events, reply = d.study.report(n, {0: 1.0, 2: 0.5}, **d.kw())
    assert reply == PruneAnswer(False, NEVER), "the nop pruner: hold every value for the tell"
    assert [type(e) for e in events] == [ev.IntermediateReported]
    assert d.study.trial(n).intermediate == {0: 1.0, 2: 0.5}
    events, reply = d.study.report(n, {2: 9.0, 3: 0.25}, **d.kw())
    assert d.study.trial(n).intermediate == {0: 1.0, 2: 0.5, 3: 0.25}, "first value of a step wins"


def test_report_answers_prune_when_the_median_pruner_says_so() -> None:
    d = Driver(pruner=MedianPruner(n_startup_trials=1))
    for value in (1.0, 2.0, 3.0):
        n = d.ask().number
        d.study.report(n, {0: value}, **d.kw())
        d.tell(n, values=value)
    n = d.ask().number
    assert d.study.report(n, {0: 2.5}, **d.kw())[1].prune is True
    m = d.ask().number
    assert d.study.report(m, {0: 1.5}, **d.kw())[1].prune is False


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({-1: 1.0}, "step must be an int >= 0"),
        ({True: 1.0}, "step must be an int >= 0"),
        ({1.5: 1.0}, "step must be an int >= 0"),
        ({0: "high"}, "must be a number"),
        ({}, "at least one"),
    ],
)
def test_bad_reports_are_refused(values: dict[Any, Any], match: str) -> None:
    d = Driver()
    n = d.ask().number
    with pytest.raises(InvalidValue, match=match):
        d.study.report(n, values, **d.kw())
    assert d.study.trial(n).intermediate == {}


# ---- tell ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("values", "stored"), [(2.5, (2.5,)), ([2.5], (2.5,)), ((2,), (2.0,))])
def test_tell_complete(values: Any, stored: tuple[float, ...]) -> None:
    d = Driver()
    n = d.ask().number
    x = d.suggest(n, "x", X)
    events, reply = d.tell(n, values=values, user_attrs={"k": 1})
    assert reply == Accepted(n)
    assert [type(e) for e in events] == [ev.TrialFinished]
    r = d.study.trial(n)
    assert (r.state, r.values, r.params, r.user_attrs) == (S.COMPLETE, stored, {"x": x}, {"k": 1})
    assert r.finished_at is not None and r.reason is None


def test_tell_with_nan_is_a_failure_for_reason_nan() -> None:
    d = Driver()
    n = d.ask().number
    d.tell(n, values=math.nan)
    r = d.study.trial(n)
    assert (r.state, r.reason, r.values) == (S.FAIL, FailReason.NAN, None)
    assert "nan" in (r.message or "")


@pytest.mark.parametrize(
    ("directions", "values", "match"),
    [
        ((Direction.MINIMIZE,), [1.0, 2.0], "1 objective.* returned 2 value"),
        ((Direction.MINIMIZE, Direction.MAXIMIZE), 1.0, "2 objective.* returned 1 value"),
        ((Direction.MINIMIZE,), None, "needs its objective values"),
        ((Direction.MINIMIZE,), ["a"], "must be numbers"),
    ],
)
def test_tell_with_unusable_values_is_refused_and_changes_nothing(
    directions: tuple[Direction, ...], values: Any, match: str
) -> None:
    d = Driver(directions=directions)
    n = d.ask().number
    with pytest.raises(InvalidValue, match=match):
        d.study.tell(n, S.COMPLETE, values=values, **d.kw())
    assert d.study.trial(n).state is S.RUNNING


def test_tell_with_params_outside_their_distribution_is_refused() -> None:
    d = Driver()
    n = d.ask().number
    with pytest.raises(InvalidValue, match="'x': 3.0 is outside"):
        d.tell(n, params={"x": 3.0}, distributions={"x": X})
    d.tell(n, params={"x": 0.5}, distributions={"x": X})
    assert d.study.trial(n).distributions == {"x": X}


def test_tell_with_a_running_state_is_refused() -> None:
    d = Driver()
    n = d.ask().number
    with pytest.raises(InvalidValue, match="COMPLETE, PRUNED or FAIL"):
        d.study.tell(n, S.RUNNING, **d.kw())


def test_a_pruned_trial_keeps_its_last_intermediate_value() -> None:
    d = Driver()
    n = d.ask().number
    d.study.report(n, {0: 3.0, 4: 1.5, 2: 2.0}, **d.kw())
    d.tell(n, S.PRUNED)
    assert (d.study.trial(n).state, d.study.trial(n).values) == (S.PRUNED, (1.5,))


def test_a_late_tell_is_refused_recorded_and_changes_nothing_else() -> None:
    d = Driver()
    n = d.ask().number
    d.tell(n, values=1.0, user_attrs={"k": "v"})
    before = repr(d.study.trial(n))
    events, reply = d.tell(n, values=9.0)
    assert [type(e) for e in events] == [ev.LateTellRecorded]
    assert events[0].values == (9.0,)
    assert isinstance(reply, Refused) and reply.code == "trial_finished"
    assert "already ended" in reply.message
    r = d.study.trial(n)
    assert r.late_tells == 1
    r.late_tells = 0
    assert repr(r) == before


def test_tell_for_an_unknown_trial() -> None:
    d = Driver()
    with pytest.raises(TrialNotFound, match="no trial 3"):
        d.tell(3)


# ---- lost trials and retries -------------------------------------------------------------------
def test_a_lapsed_lease_fails_the_trial_as_lost_and_retries_it_outside_the_budget() -> None:
    d = Driver(n_trials=1)
    a = d.ask("w1")
    x = d.suggest(a.number, "x", X)
    events = d.study.lapse(a.number, now=100.0)
    assert [type(e) for e in events] == [ev.LeaseLapsed, ev.TrialEnqueued]
    lost = d.study.trial(a.number)
    assert (lost.state, lost.reason, lost.finished_at) == (S.FAIL, FailReason.LOST, 100.0)
    assert "'w1'" in (lost.message or "")
    retry = d.study.trial(1)
    assert (retry.state, retry.retry_of, retry.attempt, retry.params) == (
        S.WAITING, 0, 1, {"x": x}
    )
    assert d.study.fresh == 1
    again = d.ask("w2")  # handed out although the budget of 1 is spent
    assert (again.number, again.params) == (1, {"x": x})
    d.tell(1)
    assert d.ask() == Done("budget spent")


def test_no_retry_of_lost_trials_when_retry_lost_is_off() -> None:
    d = Driver(retry_lost=False)
    n = d.ask().number
    assert [type(e) for e in d.study.lapse(n, now=5.0)] == [ev.LeaseLapsed]
    assert len(d.study.trials) == 1


@pytest.mark.parametrize("state", ["finished", "waiting"])
def test_lapse_of_a_trial_that_is_not_running_does_nothing(state: str) -> None:
    d = Driver()
    n = d.run() if state == "finished" else d.study.enqueue({}, **d.kw())[1].number
    assert d.study.lapse(n, now=9.0) == []


@pytest.mark.parametrize(
    ("max_retry", "reason", "attempts"),
    [
        (0, FailReason.ERROR, 1),
        (1, FailReason.ERROR, 2),
        (2, FailReason.ERROR, 3),
        (2, FailReason.NAN, 3),
        (1, FailReason.TIMEOUT, 2),
    ],
)
def test_max_retry_bounds_retries_of_the_users_failures(
    max_retry: int, reason: FailReason, attempts: int
) -> None:
    d = Driver(max_retry=max_retry)
    n = d.ask().number
    for _ in range(10):  # a trial that keeps failing
        if reason == FailReason.NAN:
            d.tell(n, values=math.nan)
        else:
            d.tell(n, S.FAIL, reason=reason)
        if not d.study.waiting:
            break
        n = d.ask().number
    chain = d.study.trials
    assert len(chain) == attempts
    assert [r.retry_of for r in chain] == [None, *range(attempts - 1)]
    assert [r.attempt for r in chain] == list(range(attempts))
    assert all(r.state is S.FAIL and r.reason is reason for r in chain)


def test_preempted_and_lost_retries_do_not_spend_max_retry() -> None:
    d = Driver(max_retry=1)
    n = d.ask().number
    d.tell(n, S.FAIL, reason=FailReason.PREEMPTED)  # retried, free
    n = d.ask().number
    d.study.lapse(n, now=50.0)  # retried, free
    n = d.ask().number
    d.tell(n, S.FAIL, reason=FailReason.ERROR)  # retried, spends the one retry
    n = d.ask().number
    assert d.study.trial(n).attempt == 3
    d.tell(n, S.FAIL)  # reason error by default: no retry left
    assert d.study.trial(n).reason is FailReason.ERROR
    assert not d.study.waiting
    assert len(d.study.trials) == 4


# ---- add_trial, budget, stop -------------------------------------------------------------------
def test_add_trial_brings_in_a_finished_trial_outside_the_budget() -> None:
    d = Driver(n_trials=1)
    _, reply = d.study.add_trial(
        state=S.COMPLETE, values=0.5, params={"x": 0.5, "c": None},
        distributions={"x": X, "c": C}, intermediate={0: 1.0, 1: 0.5}, **d.kw()
    )
    assert reply == Accepted(0)
    r = d.study.trial(0)
    assert (r.state, r.values, r.intermediate, r.worker) == (S.COMPLETE, (0.5,),
                                                             {0: 1.0, 1: 0.5}, "added")
    assert d.study.fresh == 0
    assert d.study.view.n_complete == 1
    assert d.ask().number == 1


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"state": S.RUNNING, "values": None}, "only finished trials"),
        ({"state": S.COMPLETE, "values": 1.0, "params": {"x": 0.5}, "distributions": {}},
         "one distribution for each param"),
        ({"state": S.COMPLETE, "values": 1.0, "params": {"x": 2.0}, "distributions": {"x": X}},
         "outside"),
        ({"state": S.FAIL, "values": 1.0}, "has no objective values"),
        ({"state": S.COMPLETE, "values": None}, "needs its objective values"),
        ({"state": S.COMPLETE, "values": math.nan}, "cannot have NaN values"),
    ],
)
def test_add_trial_refuses_what_cannot_be_a_finished_trial(kw: dict[str, Any], match: str) -> None:
    d = Driver()
    args = {"params": {}, "distributions": {}, **kw}
    with pytest.raises(InvalidValue, match=match):
        d.study.add_trial(**args, **d.kw())
    assert d.study.trials == []


def test_set_budget_raises_and_lifts_the_budget() -> None:
    d = Driver(n_trials=1)
    d.run()
    assert d.ask() == Done("budget spent")
    d.study.set_budget(2, **d.kw())
    assert d.run() == 1
    assert d.ask() == Done("budget spent")
    d.study.set_budget(None, **d.kw())
    assert d.run() == 2
    with pytest.raises(InvalidValue, match="n_trials must be >= 0"):
        d.study.set_budget(-1, **d.kw())


def test_stop_ends_the_study_once_running_trials_finish() -> None:
    d = Driver()
    a = d.ask()
    d.study.enqueue({"x": 0.5}, **d.kw())
    assert d.study.stop(**d.kw())[1] == Accepted()
    assert d.ask() == Done("stopped")  # enqueued trials are not started either
    assert not d.study.is_done()  # trial 0 still runs
    d.tell(a.number, S.FAIL, reason=FailReason.PREEMPTED)
    assert [r.state for r in d.study.trials] == [S.FAIL, S.WAITING]  # no retry after a stop
    assert d.study.is_done()
    assert d.ask() == Done("stopped")


def test_several_objectives_cannot_be_pruned() -> None:
    two = StudySettings(directions=(Direction.MINIMIZE,) * 2, pruner=PluginSpec("median"))
    with pytest.raises(ConfigError, match="pruning works with one objective only"):
        Study("s", two, RandomSampler(), MedianPruner())


def test_the_view_follows_finished_trials_past_its_first_capacity() -> None:
    """What samplers read: columns by finished trial, NaN where a value does not apply."""
    d = Driver()
    xs = []
    for i in range(150):
        n = d.ask().number
        xs.append(d.suggest(n, "x", X))
        if i >= 100:
            d.suggest(n, "c", C)
        d.study.report(n, {0: float(i)}, **d.kw())
        if i % 3 == 0:
            d.tell(n, S.FAIL)
        else:
            d.tell(n, values=2 * xs[-1])
    view = d.study.view
    assert view.n_finished == 150
    assert view.numbers().tolist() == list(range(150))
    assert view.states().tolist() == [int(S.FAIL if i % 3 == 0 else S.COMPLETE)
                                      for i in range(150)]
    assert view.param("x").tolist() == xs
    values = view.values()[:, 0].tolist()
    assert all(math.isnan(v) if i % 3 == 0 else v == 2 * xs[i] for i, v in enumerate(values))
    c = view.param("c").tolist()
    assert all(math.isnan(v) for v in c[:100]) and all(v in (0.0, 1.0, 2.0) for v in c[100:])
    assert view.intersection_space() == {"x": X}  # "c" was not used by every complete trial
    assert sorted(view.step_values(0)) == [float(i) for i in range(150) if i % 3]
    assert math.isnan(view.param("never")[0])
    assert view.distribution_since("x") == 0 and view.distribution_since("never") == 150


def test_the_view_knows_since_when_a_param_kept_its_distribution() -> None:
    d = Driver()
    wide = FloatDistribution(0.0, 10.0)
    for i in range(6):
        d.study.add_trial(state=S.COMPLETE, values=1.0, params={"x": 0.5},
                          distributions={"x": X if i < 2 or i == 4 else wide}, **d.kw())
    view = d.study.view
    assert view.distribution("x") == wide and view.distribution_since("x") == 5


# ---- reproducibility ---------------------------------------------------------------------------
def drive_same_script(seed: int) -> list[Any]:
    d = Driver(seed=seed, space={"c": C})
    seen = []
    for i in range(6):
        reply = d.ask()
        seen.append(reply.params)
        seen.append(d.suggest(reply.number, "x", X))
        seen.append(d.suggest(reply.number, "y", Y))
        d.tell(reply.number, values=float(i))
    return seen


def test_the_same_seed_asks_the_same_params() -> None:
    assert drive_same_script(7) == drive_same_script(7)
    assert drive_same_script(7) != drive_same_script(8)


# ---- replay equals live state ------------------------------------------------------------------
def norm(x: Any) -> Any:
    """A deep, comparable copy: NaN made equal to NaN."""
    if isinstance(x, float) and math.isnan(x):
        return "NaN"
    if isinstance(x, dict):
        return {k: norm(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(norm(v) for v in x)
    return x


def snapshot(study: Study) -> Any:
    v = study.view
    trials = [
        (r.number, r.state, r.params, r.distributions, r.values, r.intermediate, r.user_attrs,
         r.constraints, r.worker, r.started_at, r.finished_at, r.reason, r.message, r.retry_of,
         r.attempt, r.late_tells)
        for r in study.trials
    ]
    return norm((
        trials, list(study.waiting), study.fresh, study.n_trials, study.stopped,
        sorted(v.running), v.n_complete, v.numbers().tolist(), v.states().tolist(),
        v.values().tolist(), {n: v.param(n).tolist() for n in ("x", "y", "c")},
        v.intersection_space(), {s: v.step_values(s) for s in range(5)}, study.is_done(),
    ))


OPS = ["ask", "ask", "ask", "suggest", "suggest", "report", "tell", "tell", "lapse", "enqueue",
       "add", "budget", "stop"]
commands = st.lists(
    st.tuples(st.sampled_from(OPS), st.integers(0, 1000), st.integers(0, 1000)), max_size=45
)
study_settings = st.builds(
    StudySettings,
    n_trials=st.sampled_from([None, 3, 8]),
    max_concurrent=st.sampled_from([None, 1, 3]),
    max_retry=st.integers(0, 2),
    retry_lost=st.booleans(),
)
SUGGEST = [("x", X), ("y", Y), ("c", C), ("x", FloatDistribution(0.0, 2.0))]


def perform(d: Driver, op: str, a: int, b: int) -> list[ev.Event]:
    """One command; events it caused (the command is applied already)."""
    study = d.study
    running = sorted(study.view.running)
    pick = running[a % len(running)] if running else a % (len(study.trials) + 2)
    if op == "ask":
        return study.ask(f"w{a % 3}", **d.kw())[0]
    if op == "suggest":
        name, dist = SUGGEST[b % len(SUGGEST)]
        return study.suggest(pick, name, dist, **d.kw())[0]
    if op == "report":
        value = math.nan if b % 7 == 0 else a / 100
        return study.report(pick, {b % 5: value}, **d.kw())[0]
    if op == "tell":
        if b % 9 == 0 and study.trials:  # a late tell, or one for a trial not running
            pick = a % len(study.trials)
        state = [S.COMPLETE, S.PRUNED, S.FAIL][b % 3]
        values: Any = [math.nan, [1.0, 2.0]][a % 2] if b % 5 == 0 else float(a % 10)
        reason = list(FailReason)[a % 5] if state == S.FAIL else None
        return study.tell(pick, state, values=values, reason=reason, **d.kw())[0]
    if op == "lapse":
        return study.lapse(pick, now=float(next(d._clock)))
    if op == "enqueue":
        return study.enqueue({"x": 5.0 if b % 4 == 0 else a / 1000}, **d.kw())[0]
    if op == "add":
        return study.add_trial(
            state=S.COMPLETE, values=float(a), params={"x": b / 1000}, distributions={"x": X},
            intermediate={b % 5: a / 10}, **d.kw()
        )[0]
    if op == "budget":
        return study.set_budget(None if b % 8 == 7 else b % 8, **d.kw())[0]
    assert op == "stop"
    return study.stop(**d.kw())[0] if b % 4 == 0 else []


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(options=study_settings, script=commands)
def test_replay_equals_live_state(options: StudySettings, script: list[Any]) -> None:
    live = Driver(seed=11, pruner=MedianPruner(n_startup_trials=1), settings=options)
    events: list[ev.Event] = []
    for op, a, b in script:
        before = snapshot(live.study)
        try:
            events += perform(live, op, a, b)
        except TunefleetError:
            assert snapshot(live.study) == before  # a refused command changes nothing

    # numbers: 0, 1, 2 ... never skipped or reused; retries point back to an earlier trial
    trials = live.study.trials
    assert [r.number for r in trials] == list(range(len(trials)))
    for r in trials:
        if r.retry_of is not None:
            assert r.retry_of < r.number
            assert r.attempt == trials[r.retry_of].attempt + 1

    # replayed into a study whose sampler would sample other values: samplers are not re-run
    other = Study("s", options, RandomSampler(seed=99), NopPruner())
    for e in events:
        other.apply(e)
    assert snapshot(other) == snapshot(live.study)

    # through the journal's encoding, into a study like the live one: the same next answer too
    twin = Driver(seed=11, pruner=MedianPruner(n_startup_trials=1), settings=options)
    for e in events:
        code, body = ev.encode(e)
        blob = msgpack.packb(body, use_bin_type=True)
        twin.study.apply(ev.decode(code, msgpack.unpackb(blob, raw=False, strict_map_key=False)))
    assert snapshot(twin.study) == snapshot(live.study)
    assert twin.study.ask("w", request_id="z", now=1e9) == live.study.ask(
        "w", request_id="z", now=1e9
    )
