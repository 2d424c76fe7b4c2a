"""The Python API with an in-process coordinator (memory or a journal file), no broker."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import pytest

import tunefleet
from tunefleet.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from tunefleet.trial import TrialState


def quadratic(trial: tunefleet.Trial) -> float:
    x = trial.suggest_float("x", -10, 10)
    n = trial.suggest_int("n", 1, 8, log=True)
    act = trial.suggest_categorical("act", ["relu", "tanh"])
    return (x - 2) ** 2 + n + (act == "relu")


def test_optimize_in_memory_numbers_every_trial_once() -> None:
    study = tunefleet.create_study(direction="minimize", sampler=tunefleet.RandomSampler(seed=3))
    study.optimize(quadratic, n_trials=40)
    trials = study.trials
    assert [t.number for t in trials] == list(range(40))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert study.best_value == min(t.value for t in trials)
    assert set(study.best_params) == {"x", "n", "act"}
    best = study.best_trial
    assert best.duration is not None and best.datetime_start <= best.datetime_complete
    for t in trials:
        assert -10 <= t.params["x"] <= 10 and 1 <= t.params["n"] <= 8
        assert t.distributions["act"] == CategoricalDistribution(("relu", "tanh"))


def test_same_seed_same_params() -> None:
    a = tunefleet.create_study(sampler=("random", {"seed": 11}))
    b = tunefleet.create_study(sampler=("random", {"seed": 11}))
    a.optimize(quadratic, n_trials=10)
    b.optimize(quadratic, n_trials=10)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]


def test_journal_resumes_with_load_study(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    study = tunefleet.create_study("s", journal=path)
    study.optimize(quadratic, n_trials=15)
    best = study.best_value
    study.close()
    again = tunefleet.load_study("s", journal=path)
    assert len(again.trials) == 15 and again.best_value == best
    again.optimize(quadratic, n_trials=5)
    assert [t.number for t in again.trials] == list(range(20))
    again.close()
    with pytest.raises(tunefleet.StudyNotFound, match="no study 'other'"):
        tunefleet.load_study("other", journal=path)


def test_second_process_cannot_write_an_open_journal(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    study = tunefleet.create_study("s", journal=path)
    with pytest.raises(tunefleet.JournalError, match="in use"):
        tunefleet.create_study("t", journal=path)
    study.close()


def test_create_existing_study() -> None:
    study = tunefleet.create_study("dup")
    backend = study._backend
    from tunefleet.client import Study

    with pytest.raises(tunefleet.StudyExists):
        backend.rpc.call(
            tunefleet.protocol.messages.CreateStudy(request_id="r-dup", study="dup")
        )
    assert isinstance(study, Study)


def test_enqueued_trial_comes_first() -> None:
    study = tunefleet.create_study()
    study.enqueue_trial({"x": 2.0, "n": 1, "act": "tanh"})
    study.optimize(quadratic, n_trials=3)
    first = study.trials[0]
    assert first.params == {"x": 2.0, "n": 1, "act": "tanh"} and first.value == 1.0


def test_ask_and_tell() -> None:
    study = tunefleet.create_study(direction="maximize")
    trial = study.ask({"x": FloatDistribution(0, 1), "k": IntDistribution(0, 4, step=2)})
    assert 0 <= trial.params["x"] <= 1 and trial.params["k"] in (0, 2, 4)
    y = trial.suggest_float("y", 1e-3, 1.0, log=True)
    frozen = study.tell(trial, trial.params["x"] + y)
    assert frozen.state == TrialState.COMPLETE and frozen.params["y"] == y
    t2 = study.ask()
    study.tell(t2, state=TrialState.PRUNED)
    t3 = study.ask()
    study.tell(t3.number, state=TrialState.FAIL)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.PRUNED,
                                               TrialState.FAIL]
    with pytest.raises(tunefleet.TrialFinishedError):
        study.tell(t3.number, 1.0)
    assert study.trials[2].state == TrialState.FAIL


def test_exception_is_recorded_then_raised_unless_caught() -> None:
    calls = []

    def flaky(trial: tunefleet.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        calls.append(x)
        if len(calls) % 2 == 0:
            raise ZeroDivisionError("boom")
        return x

    study = tunefleet.create_study()
    with pytest.raises(ZeroDivisionError):
        study.optimize(flaky, n_trials=10)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL]
    assert "ZeroDivisionError: boom" in (study.trials[1].message or "")
    study.optimize(flaky, n_trials=6, catch=(ZeroDivisionError,))
    assert len(study.trials) == 8
    assert sum(t.state == TrialState.FAIL for t in study.trials) == 4


def test_nan_and_bad_returns_fail_and_the_study_goes_on() -> None:
    results = iter([float("nan"), "oops", 3.0])

    def objective(trial: tunefleet.Trial) -> object:
        trial.suggest_float("x", 0, 1)
        return next(results)

    study = tunefleet.create_study()
    study.optimize(objective, n_trials=3, catch=(Exception,))
    reasons = [(t.state, t.reason.value if t.reason else None) for t in study.trials]
    assert reasons == [(TrialState.FAIL, "nan"), (TrialState.FAIL, "error"),
                       (TrialState.COMPLETE, None)]


def test_bad_suggestions_raise_value_error_in_the_objective() -> None:
    def conflicting(trial: tunefleet.Trial) -> float:
        trial.suggest_float("x", 0, 1)
        trial.suggest_int("x", 0, 1)
        return 0.0

    def bad_range(trial: tunefleet.Trial) -> float:
        return trial.suggest_float("x", 2, 1)

    study = tunefleet.create_study()
    with pytest.raises(ValueError, match="already suggested"):
        study.optimize(conflicting, n_trials=1)
    with pytest.raises(ValueError, match="low must be <= high"):
        study.optimize(bad_range, n_trials=1)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.FAIL]


def test_pruned_trials_and_median_pruner() -> None:
    def objective(trial: tunefleet.Trial) -> float:
        x = trial.suggest_float("x", 0, 10)
        value = x
        for step in range(10):
            value = x + 1.0 / (step + 1)
            trial.report(value, step)
            if trial.should_prune():
                raise tunefleet.TrialPruned()
        return value

    study = tunefleet.create_study(
        pruner=tunefleet.MedianPruner(n_startup_trials=5, n_warmup_steps=2),
        sampler=tunefleet.RandomSampler(seed=5),
    )
    study.optimize(objective, n_trials=40)
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned, "the median pruner should stop some of the worse trials"
    for t in pruned:
        assert t.last_step is not None and t.last_step >= 2
        assert t.value == t.intermediate_values[t.last_step]
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete[5:]) == len(study.trials) - len(pruned) - 5


def test_warm_start_with_create_trial() -> None:
    dist = {"x": FloatDistribution(-10, 10)}
    study = tunefleet.create_study(n_trials=5)
    study.add_trials(
        tunefleet.create_trial(params={"x": float(x)}, distributions=dist, value=float(x * x))
        for x in range(-3, 4)
    )
    assert len(study.trials) == 7 and study.best_value == 0.0
    study.optimize(lambda t: t.suggest_float("x", -10, 10) ** 2)
    assert len(study.trials) == 12, "added trials do not count against n_trials"
    with pytest.raises(ValueError):
        tunefleet.create_trial(params={"x": 11.0}, distributions=dist, value=1.0)


def test_several_objectives_keep_every_value() -> None:
    study = tunefleet.create_study(directions=["minimize", "maximize"])
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)),
                   n_trials=20)
    assert all(len(t.values) == 2 for t in study.trials)
    front = study.best_trials
    assert front
    for a in front:
        for b in study.trials:
            assert not (b.values[0] < a.values[0] and b.values[1] > a.values[1])
    with pytest.raises(RuntimeError):
        _ = study.best_trial
    with pytest.raises(tunefleet.ConfigError, match="pruning works with one objective"):
        tunefleet.create_study(directions=["minimize", "minimize"], pruner="median")


def test_hypervolume_of_the_front_in_each_direction() -> None:
    study = tunefleet.create_study(directions=["minimize", "maximize"])
    for x, y in [(1.0, 1.0), (2.0, 3.0), (3.0, 2.0), (0.5, 0.25)]:  # (3, 2) is dominated
        t = study.ask()
        study.tell(t, (x, y))
    # minimise x, maximise y, bounded by x <= 4 and y >= 0: boxes [0.5,4]x[0,0.25],
    # [1,4]x[0,1], [2,4]x[0,3], whose union has area 0.875 + 2.25 + 4 = 7.125
    assert [t.number for t in study.best_trials] == [0, 1, 3]
    assert study.hypervolume([4.0, 0.0]) == pytest.approx(7.125)
    assert study.hypervolume([0.0, 10.0]) == 0.0  # nothing dominates that point
    with pytest.raises(ValueError, match="reference point has 1 value"):
        study.hypervolume([4.0])
    infeasible = tunefleet.create_study(directions=["minimize", "minimize"])
    t = infeasible.ask()
    infeasible.tell(t, (0.0, 0.0), constraints=[1.0])
    assert infeasible.best_trials == [] and infeasible.hypervolume([1.0, 1.0]) == 0.0

def test_max_concurrent_makes_asks_wait() -> None:
    study = tunefleet.create_study(max_concurrent=1)
    first = study.ask()
    got: list[int] = []
    t = threading.Thread(target=lambda: got.append(study.ask().number), daemon=True)
    t.start()
    t.join(0.8)
    assert got == [], "an ask past max_concurrent waits"
    study.tell(first, 1.0)
    t.join(10)
    assert got == [1]


def test_optimize_with_worker_processes(tmp_path: Path) -> None:
    study = tunefleet.create_study("forked", journal=tmp_path / "f.db")
    study.optimize(quadratic, n_trials=24, n_workers=3)
    trials = study.trials
    assert [t.number for t in trials] == list(range(24))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert len({t.worker for t in trials}) >= 2
    study.optimize(quadratic, n_trials=2)  # the study's budget is as it was before
    assert len(study.trials) == 26
    study.close()


def test_timeout_stops_starting_trials() -> None:
    def slow(trial: tunefleet.Trial) -> float:
        time.sleep(0.05)
        return trial.suggest_float("x", 0, 1)

    study = tunefleet.create_study()
    study.optimize(slow, timeout=0.3)
    assert 1 <= len(study.trials) < 100


def test_fixed_trial_runs_an_objective_without_a_study() -> None:
    assert quadratic(tunefleet.FixedTrial({"x": 2.0, "n": 1, "act": "tanh"})) == 1.0
    with pytest.raises(ValueError, match="no value for parameter 'n'"):
        quadratic(tunefleet.FixedTrial({"x": 2.0}))
    assert math.isclose(quadratic(tunefleet.FixedTrial({"x": 0.0, "n": 8, "act": "relu"})), 13.0)


def test_load_study_with_another_sampler_and_pruner(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    study = tunefleet.create_study("p", journal=path)
    study.optimize(quadratic, n_trials=3)
    study.close()
    again = tunefleet.load_study("p", journal=path, sampler=tunefleet.RandomSampler(seed=99),
                                 pruner=tunefleet.MedianPruner(n_startup_trials=2))
    assert again._settings.sampler.options == {"seed": 99}
    assert again._settings.pruner.name == "median"
    again.optimize(quadratic, n_trials=2)
    again.close()
    reopened = tunefleet.load_study("p", journal=path)
    assert reopened._settings.pruner.options["n_startup_trials"] == 2, "journaled, replayed"
    assert len(reopened.trials) == 5
    reopened.close()
    with pytest.raises(tunefleet.ConfigError, match="unknown sampler 'nope'"):
        tunefleet.load_study("p", journal=path, sampler="nope")
    tunefleet.load_study("p", journal=path).close()  # the failed load released the journal


def test_reports_between_decisions_travel_together_and_none_is_lost() -> None:
    sent: list[int] = []

    def objective(trial: tunefleet.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        for step in range(20):
            trial.report(x + step, step)
            if trial.should_prune():
                sent.append(trial.reports_sent)
                raise tunefleet.TrialPruned()
        sent.append(trial.reports_sent)
        return x

    study = tunefleet.create_study(
        pruner=tunefleet.PercentilePruner(percentile=50, n_startup_trials=2, interval_steps=5)
    )
    study.optimize(objective, n_trials=12)
    for t in study.trials:
        last = max(t.intermediate_values)
        assert sorted(t.intermediate_values) == list(range(last + 1)), "every value recorded"
    after_startup = sent[2:]
    assert max(after_startup) <= 5, "one report per decision step (0, 5, 10, 15), not 20"
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    for t in pruned:
        assert t.value == t.intermediate_values[max(t.intermediate_values)]
