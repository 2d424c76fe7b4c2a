"""GridSampler: every point of the grid exactly once, retries and parallel asks included."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pytest

from tests.unit.samplers.studies import Run, Trial
from tunefleet.core.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from tunefleet.core.replies import Done, Wait
from tunefleet.core.trial import FailReason, TrialState
from tunefleet.errors import ConfigError, InvalidValue
from tunefleet.samplers import GridSampler, make_sampler

GRID: dict[str, list[Any]] = {"lr": [0.001, 0.01, 0.1], "layers": [1, 2, 4, 8], "act": ["relu", "tanh"]}
ALL = set(itertools.product(GRID["act"], GRID["layers"], GRID["lr"]))


def objective(t: Trial) -> float:
    return t.suggest_float("lr", 1e-4, 1.0, log=True) * t.suggest_int("layers", 1, 8) + (
        t.suggest_categorical("act", ["relu", "tanh"]) == "tanh")


def key(params: dict[str, Any]) -> tuple[Any, ...]:
    return params["act"], params["layers"], params["lr"]


def run_out(run: Run) -> list[tuple[Any, ...]]:
    run.until_done(objective)
    return [key(r.params) for r in run.study.trials]


@pytest.mark.parametrize("seed", [None, 0, 5])
def test_every_point_is_visited_exactly_once(seed: int | None) -> None:
    sampler = GridSampler(search_space=GRID, seed=seed)
    assert sampler.n_points == 24
    run = Run(sampler, n_trials=sampler.n_points)
    visited = run_out(run)
    assert len(visited) == 24 and set(visited) == ALL
    assert sampler.exhausted(run.study.view)
    assert run.round_trips == 3  # only the first trial's: then the grid's params come with the ask


def test_unshuffled_order_is_the_product_in_name_order_and_a_seed_shuffles_it() -> None:
    plain = run_out(Run(GridSampler(search_space=GRID), n_trials=24))
    assert plain == list(itertools.product(GRID["act"], GRID["layers"], GRID["lr"]))
    a = run_out(Run(GridSampler(search_space=GRID, seed=1), n_trials=24))
    assert a == run_out(Run(GridSampler(search_space=GRID, seed=1), n_trials=24))
    assert a != plain and a != run_out(Run(GridSampler(search_space=GRID, seed=2), n_trials=24))


def test_simultaneous_asks_take_distinct_points() -> None:
    run = Run(GridSampler(search_space=GRID, seed=3), n_trials=24)
    trials = [*run.batch(objective, 8), *run.batch(objective, 16)]
    assert {key(t.params) for t in trials} == ALL


def test_a_static_space_is_sampled_whole_at_ask() -> None:
    space = {"lr": FloatDistribution(1e-4, 1.0, log=True), "layers": IntDistribution(1, 8),
             "act": CategoricalDistribution(("relu", "tanh"))}
    run = Run(GridSampler(search_space=GRID), space=space, n_trials=24)
    assert set(run_out(run)) == ALL and run.round_trips == 0


def test_retries_spend_no_grid_point() -> None:
    """A lost trial comes back as a retry with the same params; the grid still ends with every
    point visited by exactly one trial that is not a retry."""
    sampler = GridSampler(search_space=GRID, seed=9)
    run = Run(sampler, n_trials=24)
    run.optimize(objective, 5)
    lost = run.ask()
    objective(lost)
    run.study.lapse(lost.number, now=100.0)  # its worker vanished: FAIL (lost), then a retry
    failed = run.ask()
    objective(failed)
    run.tell(failed, None, state=TrialState.FAIL)  # an error: no retry (max_retry=0)
    visited = run_out(run)
    firsts = [key(r.params) for r in run.study.trials if r.retry_of is None]
    retries = [r for r in run.study.trials if r.retry_of is not None]
    assert Counter(firsts) == Counter(ALL)
    assert len(retries) == 1 and retries[0].params == run.study.trials[lost.number].params
    assert run.study.trials[lost.number].reason == FailReason.LOST
    assert len(visited) == 25


def test_exhausted_after_every_point_has_been_handed_out() -> None:
    sampler = GridSampler(search_space={"x": [0.0, 1.0]})
    run = Run(sampler)
    assert not sampler.exhausted(run.study.view)
    first = run.ask()
    first.suggest_float("x", 0.0, 1.0)
    assert not sampler.exhausted(run.study.view)
    second = run.ask()
    assert sampler.exhausted(run.study.view)
    assert second.suggest_float("x", 0.0, 1.0) == 1.0
    # Spent, with no budget set: trials still running may fail and be retried, so wait...
    assert isinstance(run.ask_reply(), Wait)
    assert not run.study.is_done()
    run.tell(first, 0.0)
    run.tell(second, 1.0)
    # ...then done, and the study says so.
    reply = run.ask_reply()
    assert isinstance(reply, Done) and reply.reason == "search space exhausted"
    assert run.study.is_done()


def test_a_spent_grid_still_runs_retries() -> None:
    run = Run(GridSampler(search_space={"x": [0.0, 1.0]}))
    a, b = run.ask(), run.ask()
    a.suggest_float("x", 0.0, 1.0)
    b.suggest_float("x", 0.0, 1.0)
    run.tell(a, 0.0)
    run.tell(b, None, state=TrialState.FAIL)  # no max_retry: not retried
    assert isinstance(run.ask_reply(), Done)
    run2 = Run(GridSampler(search_space={"x": [0.0, 1.0]}))
    a, b = run2.ask(), run2.ask()  # b is lost before its first suggest
    run2.study.lapse(b.number, now=50.0)  # retried without spending a point
    assert a.suggest_float("x", 0.0, 1.0) == 0.0
    retry = run2.ask()
    assert run2.study.trials[retry.number].retry_of == b.number
    assert retry.suggest_float("x", 0.0, 1.0) == 1.0  # b's point, not a's again


def test_a_param_outside_the_grid_or_a_value_outside_its_distribution_is_an_error() -> None:
    run = Run(GridSampler(search_space={"x": [0.5, 3.0]}))
    t = run.ask()
    with pytest.raises(InvalidValue, match="parameter 'y' is not in the grid"):
        t.suggest_float("y", 0.0, 1.0)
    assert t.suggest_float("x", 0.0, 5.0) == 0.5
    t2 = run.ask()
    with pytest.raises(InvalidValue, match=r"the grid value 3.0 of parameter 'x' is outside"):
        t2.suggest_float("x", 0.0, 1.0)


def test_grid_values_take_the_distributions_types() -> None:
    run = Run(GridSampler(search_space={"x": [1, 2], "flag": [True, False]}))
    t = run.ask()
    assert t.suggest_float("x", 0.0, 5.0) == 1.0 and type(t.params["x"]) is float
    assert t.suggest_categorical("flag", [False, True]) is True


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({}, "sampler 'grid' needs the option 'search_space'"),
        ({"search_space": {}}, "search_space must be a non-empty table"),
        ({"search_space": {"x": []}}, r"search_space\['x'\] must be a non-empty list"),
        ({"search_space": {"x": "abc"}}, r"search_space\['x'\] must be a non-empty list"),
        ({"search_space": {"x": [[1, 2]]}}, r"search_space\['x'\] holds \[1, 2\]"),
        ({"search_space": {"x": [float("nan")]}}, r"holds nan"),
    ],
)
def test_bad_grids_are_config_errors(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make_sampler("grid", options)
