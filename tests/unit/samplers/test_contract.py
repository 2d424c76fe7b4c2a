"""What every sampler promises, run over each of them: values inside their distributions,
the same points from the same seed and history, whichever sampler object asks."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.samplers.studies import Run, Trial
from tests.unit.strategies import assert_fits, distributions
from tunefleet.core.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
)
from tunefleet.core.study import Study
from tunefleet.pruners import NopPruner
from tunefleet.registry import spec_of
from tunefleet.samplers import (
    SAMPLERS,
    CmaEsSampler,
    GPSampler,
    NSGAIISampler,
    QMCSampler,
    RandomSampler,
    TPESampler,
    make_sampler,
)
from tunefleet.samplers.base import Sampler

FACTORIES: dict[str, Callable[[int], Sampler]] = {
    "random": lambda seed: RandomSampler(seed=seed),
    "tpe": lambda seed: TPESampler(seed=seed, n_startup_trials=3),
    "tpe-independent": lambda seed: TPESampler(seed=seed, n_startup_trials=3, multivariate=False),
    "tpe-group": lambda seed: TPESampler(seed=seed, n_startup_trials=3, group=True),
    "tpe-no-liar": lambda seed: TPESampler(seed=seed, n_startup_trials=3, constant_liar=False),
    "tpe-hyperopt": lambda seed: TPESampler(seed=seed, n_startup_trials=3, gamma="hyperopt",
                                            weights="uniform", consider_endpoints=True),
    "cmaes": lambda seed: CmaEsSampler(seed=seed),
    "cmaes-ipop": lambda seed: CmaEsSampler(seed=seed, restart_strategy="ipop", popsize=4),
    "cmaes-margin": lambda seed: CmaEsSampler(seed=seed, with_margin=True, popsize=4),
    "cmaes-separable": lambda seed: CmaEsSampler(seed=seed, use_separable_cma=True, popsize=4),
    "cmaes-random": lambda seed: CmaEsSampler(seed=seed, independent_sampler="random"),
    "cmaes-bipop": lambda seed: CmaEsSampler(seed=seed, restart_strategy="bipop", lr_adapt=True, popsize=4),
    "gp": lambda seed: GPSampler(seed=seed, n_startup_trials=3),
    "gp-deterministic": lambda seed: GPSampler(seed=seed, n_startup_trials=3, deterministic_objective=True),
    "nsga2": lambda seed: NSGAIISampler(seed=seed, population_size=4),
    "nsga2-sbx": lambda seed: NSGAIISampler(seed=seed, population_size=3, crossover="sbx"),
    "qmc-sobol": lambda seed: QMCSampler(seed=seed),
    "qmc-halton": lambda seed: QMCSampler(qmc_type="halton", scramble=True, seed=seed),
}



@pytest.mark.parametrize("kind", sorted(FACTORIES))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=distributions, b=distributions, seed=st.integers(0, 2**31), data=st.data())
def test_values_are_inside_their_distributions(kind: str, a: Distribution, b: Distribution,
                                               seed: int, data: st.DataObject) -> None:
    run = Run(FACTORIES[kind](seed))
    losses = data.draw(st.lists(st.floats(-1e6, 1e6), min_size=10, max_size=10))
    seen: list[Trial] = []

    def objective(t: Trial) -> float:
        seen.append(t)
        t.suggest("a", a)
        if len(seen) % 3:  # b is conditional: some trials do not use it
            t.suggest("b", b)
        return losses[len(seen) - 1]

    # the first trials suggest one by one; later ones get a and b pre-sampled at ask
    run.optimize(objective, 7)
    run.batch(objective, 3)  # three at once: the liar sees RUNNING trials
    for t in seen:
        for name, dist in t.distributions.items():
            assert_fits(name, dist, t.params[name])
    assert run.round_trips < 2 * len(seen)


@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_same_seed_and_history_give_the_same_points(kind: str) -> None:
    x, n, c = FloatDistribution(-2.0, 2.0), IntDistribution(1, 64, log=True), CategoricalDistribution(
        ("a", "b", "c"))

    def objective(t: Trial) -> float:
        return (t.suggest("x", x) ** 2 + (t.suggest("n", n) - 8) ** 2 / 100
                + (t.suggest("c", c) != "b"))

    def points(seed: int) -> list[dict[str, Any]]:
        run = Run(FACTORIES[kind](seed))
        run.optimize(objective, 12)
        trials = [*run.batch(objective, 4), *[run.trial(objective)[0] for _ in range(4)]]
        return [t.params for t in trials]

    assert points(5) == points(5)
    if kind == "qmc-sobol":  # unscrambled: the sequence is the same whatever the seed
        assert points(5) == points(6)
    else:
        assert points(5) != points(6)


@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_a_fresh_sampler_object_asks_what_a_warm_one_asks(kind: str) -> None:
    """A sampler keeps no state but a cache: a coordinator that restarts (replaying the
    journal into a new Study and a new sampler) asks the same next points."""
    run = Run(FACTORIES[kind](3))
    objective = lambda t: t.suggest_float("x", 0.0, 1.0) + t.suggest_int("k", 0, 9)  # noqa: E731
    run.optimize(objective, 15)
    pending = run.ask()  # a RUNNING trial, as a restart would find it
    replica = Study("s", run.study.settings, FACTORIES[kind](3), NopPruner())
    for event in run.events:
        replica.apply(event)
    warm = run.study.ask("w", request_id="a", now=99.0)[1]
    cold = replica.ask("w", request_id="a", now=99.0)[1]
    assert warm == cold
    assert pending.number < warm.number


@pytest.mark.parametrize("name", ["tpe", "qmc", "grid", "gp", "nsga2", "cmaes"])
def test_options_round_trip_through_json(name: str) -> None:
    options = {
        "tpe": {"n_startup_trials": 5, "gamma": 0.2, "group": True, "seed": 4},
        "qmc": {"qmc_type": "halton", "scramble": True, "seed": 9},
        "grid": {"search_space": {"x": [0.5, 1.5], "c": ["a", None, True]}, "seed": 2},
        "gp": {"n_startup_trials": 4, "deterministic_objective": True, "max_trials_in_model": 300,
               "seed": 1},
        "cmaes": {"sigma0": 0.2, "restart_strategy": "ipop", "popsize": 6, "with_margin": True, "seed": 5},
        "nsga2": {"population_size": 8, "crossover": "blxalpha", "mutation_prob": 0.2, "seed": 3},
    }[name]
    sampler = make_sampler(name, copy.deepcopy(options))
    again, spec = spec_of(SAMPLERS, sampler)
    assert again == name
    rebuilt = make_sampler(name, json.loads(json.dumps(spec)))
    assert spec_of(SAMPLERS, rebuilt) == (name, spec)
    for k, v in options.items():
        assert spec[k] == v
