"""NSGA-II: generations replayed from the view, children inside their distributions, and a
front on ZDT1 that random search does not come near."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.samplers.studies import Run, Trial, sphere
from tests.unit.strategies import distributions, float_dists, int_dists
from tunefleet.core.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    check_value,
)
from tunefleet.core.pareto import hypervolume, pareto_front
from tunefleet.core.replies import TrialAssigned
from tunefleet.core.study import Study
from tunefleet.core.trial import TrialState
from tunefleet.pruners import NopPruner
from tunefleet.registry import spec_of
from tunefleet.samplers.base import uniform_in
from tunefleet.samplers.nsga2 import CROSSOVERS, NSGAIISampler, from_unit, select, to_unit
from tunefleet.samplers.random import RandomSampler

TWO = ("minimize", "minimize")


def zdt1(dims: int) -> Any:
    def objective(t: Trial) -> tuple[float, float]:
        x = np.array([t.suggest_float(f"x{i}", 0.0, 1.0) for i in range(dims)])
        g = 1 + 9 * x[1:].mean()
        return float(x[0]), float(g * (1 - math.sqrt(x[0] / g)))
    return objective


def front_of(run: Run) -> np.ndarray:
    pts = np.array([r.values for r in run.study.trials if r.values is not None])
    return pts[pareto_front(pts)]


# ---- options ----------------------------------------------------------------------------------
def test_options_are_plain_values_read_back_as_given() -> None:
    options = {"population_size": 8, "mutation_prob": 0.25, "crossover": "sbx",
               "crossover_prob": 0.7, "swapping_prob": 0.4, "seed": 3}
    sampler = NSGAIISampler(**options)  # type: ignore[arg-type]
    name, spec = spec_of({"nsga2": NSGAIISampler}, sampler)
    assert (name, spec) == ("nsga2", options)
    assert spec_of({"nsga2": NSGAIISampler}, NSGAIISampler(**json.loads(json.dumps(spec))))[1] == spec
    defaults = spec_of({"nsga2": NSGAIISampler}, NSGAIISampler())[1]
    assert defaults == {"population_size": 50, "mutation_prob": None, "crossover": "uniform",
                        "crossover_prob": 0.9, "swapping_prob": 0.5, "seed": None}


@pytest.mark.parametrize(("options", "words"), [
    ({"crossover": "sbxx"}, "unknown crossover 'sbxx' (did you mean 'sbx'?); the known ones are uniform, "
                            "blxalpha, sbx, vsbx, undx, spx"),
    ({"crossover": "pmx"}, "the known ones are"),
    ({"population_size": 1}, "population_size must be an int >= 2"),
    ({"population_size": 2, "crossover": "undx"}, "takes 3 parents"),
    ({"population_size": True}, "population_size"),
    ({"mutation_prob": 1.5}, "mutation_prob must be a probability in [0, 1] or None"),
    ({"crossover_prob": -0.1}, "crossover_prob must be a probability in [0, 1], got -0.1"),
    ({"swapping_prob": "half"}, "swapping_prob"),
    ({"seed": 1.5}, "seed must be an int or None"),
])
def test_bad_options_are_refused_in_full_sentences(options: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError) as info:
        NSGAIISampler(**options)
    assert words in str(info.value)


# ---- children inside their distributions --------------------------------------------------------
@pytest.mark.parametrize("crossover", sorted(CROSSOVERS))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=distributions, b=st.one_of(float_dists(), int_dists()), c=distributions,
       seed=st.integers(0, 2**31), data=st.data())
def test_children_are_inside_their_distributions(crossover: str, a: Distribution, b: Distribution,
                                                 c: Distribution, seed: int, data: st.DataObject) -> None:
    run = Run(NSGAIISampler(population_size=3, crossover=crossover, mutation_prob=0.1, seed=seed),
              directions=TWO)
    losses = data.draw(st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)),
                                min_size=24, max_size=24))
    seen: list[Trial] = []

    def objective(t: Trial) -> tuple[float, float]:
        seen.append(t)
        t.suggest("a", a)
        t.suggest("b", b)
        if len(seen) % 4:  # c is conditional: not in the relative space, sampled at random
            t.suggest("c", c)
        return losses[(len(seen) - 1) % 24]

    run.optimize(objective, 12)
    run.batch(objective, 6)
    run.optimize(objective, 6)
    for t in seen:
        for name, dist in t.distributions.items():
            check_value(name, dist, t.params[name])
            if not isinstance(dist, CategoricalDistribution):
                assert type(t.params[name]) is type(dist.low)
    assert run.study.sampler.generation_of(run.study.view, run.study.trials[-1]) >= 3  # type: ignore[attr-defined]


@settings(max_examples=200, deadline=None)
@given(dist=st.one_of(float_dists(), int_dists()), u=st.floats(0.0, 1.0), shift=st.floats(-2.0, 2.0))
def test_unit_positions_round_trip_and_repair_clips(dist: Distribution, u: float, shift: float) -> None:
    value = uniform_in(dist, min(u, 0.999999))
    back = from_unit(dist, to_unit(dist, value))
    if isinstance(dist, FloatDistribution) and dist.step is None:
        assert back == pytest.approx(value, rel=1e-9, abs=1e-9 * (dist.high - dist.low))
    else:
        assert back == value
    check_value("x", dist, from_unit(dist, to_unit(dist, value) + shift))


# ---- reproducible, and a function of the view ----------------------------------------------------
def history(sampler: NSGAIISampler, directions: tuple[str, ...] = TWO) -> Run:
    """Batches bigger than the population, FAILs, and tells out of order: what a fleet does."""
    run = Run(sampler, directions=directions)
    objective = zdt1(3)
    for round_ in range(6):
        trials = [run.ask() for _ in range(7)]
        for i, t in enumerate(reversed(trials)):
            out = objective(t)
            if (i + round_) % 5 == 0:
                run.tell(t, None, state=TrialState.FAIL)
            else:
                run.tell(t, out if len(directions) == 2 else out[1])
        run.trial(objective)
    return run


def test_the_same_seed_and_history_give_the_same_points() -> None:
    def points(seed: int) -> list[dict[str, Any]]:
        return [r.params for r in history(NSGAIISampler(population_size=4, seed=seed)).study.trials]

    assert points(5) == points(5)
    assert points(5) != points(6)
    assert NSGAIISampler(seed=None)._seed == NSGAIISampler(seed=0)._seed


def test_a_fresh_sampler_asks_what_the_warm_one_asks_after_batches() -> None:
    run = history(NSGAIISampler(population_size=4, seed=1))
    pending = [run.ask() for _ in range(3)]  # RUNNING trials, as a restart finds them
    warm = run.study.sampler
    assert isinstance(warm, NSGAIISampler)
    replica = Study("s", run.study.settings, NSGAIISampler(population_size=4, seed=1), NopPruner())
    for event in run.events:
        replica.apply(event)
    cold = replica.sampler
    assert isinstance(cold, NSGAIISampler)
    last = warm.generation_of(run.study.view, run.study.trials[pending[-1].number])
    assert last >= 5
    for g in range(last + 1):
        assert warm.parent_numbers(run.study.view, g) == cold.parent_numbers(replica.view, g)
    for i in range(5):
        a = run.study.ask("w", request_id=f"a{i}", now=99.0)[1]
        b = replica.ask("w", request_id=f"a{i}", now=99.0)[1]
        assert isinstance(a, TrialAssigned) and a == b
    assert all(p.number < run.study.trials[-1].number for p in pending)


def test_generations_close_when_population_size_trials_complete() -> None:
    """Generation g is open at an ask until population_size of its trials are COMPLETE; then
    the parents of g + 1 are selected from g's parents and everything COMPLETE since."""
    run = Run(NSGAIISampler(population_size=2, seed=0))
    sampler, view = run.study.sampler, run.study.view
    assert isinstance(sampler, NSGAIISampler)
    x = lambda t: t.suggest_float("x", 0.0, 1.0)  # noqa: E731
    gen = lambda t: sampler.generation_of(view, run.study.trials[t.number])  # noqa: E731
    t0, t1, t2, t3 = (run.ask() for _ in range(4))  # four workers at once: all generation 0
    for t in (t0, t1, t2, t3):
        x(t)
    run.tell(t0, 3.0)
    run.tell(t1, None, state=TrialState.FAIL)  # does not count
    run.tell(t2, 1.0)  # the second COMPLETE trial of generation 0: it closes
    run.tell(t3, 0.0)  # a straggler: generation 0, after it closed
    assert [gen(t) for t in (t0, t1, t2, t3)] == [0, 0, 0, 0]
    assert sampler.parent_numbers(view, 1) == [0, 2]
    t4, t5, t6 = (run.ask() for _ in range(3))
    assert [gen(t) for t in (t4, t5, t6)] == [1, 1, 1]
    run.tell(t4, 5.0)
    run.tell(t5, 6.0)  # generation 1 closes; its pool is parents {0, 2} + {3, 4, 5}
    assert sampler.parent_numbers(view, 2) == [2, 3]
    assert gen(t6) == 1 and gen(run.ask()) == 2


def test_generations_advance_with_batches_bigger_than_the_population() -> None:
    run = Run(NSGAIISampler(population_size=10, seed=0), directions=TWO)
    for _ in range(8):
        run.batch(zdt1(4), 32)
    sampler = run.study.sampler
    assert isinstance(sampler, NSGAIISampler)
    gens = [sampler.generation_of(run.study.view, r) for r in run.study.trials]
    assert gens == sorted(gens) and gens[-1] == 7  # each batch of 32 closes one generation
    assert all(len(sampler.parent_numbers(run.study.view, g)) == 10 for g in range(1, 8))


def test_added_trials_make_generations_of_their_own() -> None:
    run = Run(NSGAIISampler(population_size=5, seed=0))
    dist = FloatDistribution(0.0, 1.0)
    for i in range(23):
        run.study.add_trial(state=TrialState.COMPLETE, values=(i * 0.37) % 1, params={"x": (i * 0.37) % 1},
                            distributions={"x": dist}, request_id=None, now=0.0)
    sampler = run.study.sampler
    assert isinstance(sampler, NSGAIISampler)
    assert sampler.generation_of(run.study.view, run.study.trials[run.ask().number]) == 4
    # four generations closed, at the 5th, 10th, 15th and 20th trial; 20-22 are in the open one
    best = sorted(range(20), key=lambda i: (i * 0.37) % 1)[:5]
    assert sampler.parent_numbers(run.study.view, 4) == sorted(best)


def test_maximize_is_minimize_of_the_negation() -> None:
    lo = Run(NSGAIISampler(population_size=4, seed=2), directions=TWO)
    hi = Run(NSGAIISampler(population_size=4, seed=2), directions=("maximize", "minimize"))
    objective = zdt1(3)
    lo.optimize(objective, 30)
    hi.optimize(lambda t: (-objective(t)[0], objective(t)[1]), 30)
    assert [r.params for r in lo.study.trials] == [r.params for r in hi.study.trials]


# ---- selection -------------------------------------------------------------------------------------
def test_selection_takes_whole_fronts_then_the_least_crowded() -> None:
    loss = np.array([[0.0, 4.0], [1.0, 2.0], [1.1, 1.9], [4.0, 0.0], [2.0, 3.0], [5.0, 5.0]])
    pool = np.arange(10, 16)
    parents = select(loss, np.zeros(6), pool, 3)
    # front 0 is rows 0-3; the two extremes are infinitely far, then row 2 beats row 1
    # (row 2's neighbours are further apart: 3/4 + 2/4 against 1.1/4 + 2.1/4 for row 1)
    assert sorted(parents.idx.tolist()) == [10, 12, 13]
    assert parents.rank.tolist() == [0, 0, 0]
    infeasible = select(loss, np.array([0.0, 1.0, 2.0, 0.0, 0.0, 0.0]), pool, 4)
    assert sorted(infeasible.idx.tolist()) == [10, 13, 14, 15]  # every feasible row beats them


# ---- optimisation ----------------------------------------------------------------------------------
def test_on_zdt1_the_front_is_far_beyond_random_search() -> None:
    """ZDT1 with 10 variables, 1,000 trials each. The NSGA-II front's hypervolume (reference
    (1.1, 1.1)) is well above 0.3 while random search's is 0 (its front lies above f2 = 1.1).
    Its front dominates the random one: no NSGA-II point is dominated by a random point, most
    random points are strictly dominated, and shifted by 0.02 in both objectives (the additive
    epsilon indicator) it weakly dominates every random point. The few random points it does
    not dominate outright are the random front's extremes, with f1 below NSGA-II's smallest."""
    nsga = Run(NSGAIISampler(seed=0), directions=TWO)
    nsga.optimize(zdt1(10), 1000)
    rand = Run(RandomSampler(seed=0), directions=TWO)
    rand.optimize(zdt1(10), 1000)
    ours, theirs = front_of(nsga), front_of(rand)
    ref = np.array([1.1, 1.1])
    assert hypervolume(ours, ref) > 0.3 and hypervolume(theirs, ref) < 0.05
    beats = lambda a, b: np.all(a <= b) and np.any(a < b)  # noqa: E731
    assert not any(beats(q, p) for q in theirs for p in ours)
    assert np.mean([any(beats(p, q) for p in ours) for q in theirs]) > 0.5
    assert all(any(np.all(p - 0.02 <= q) for p in ours) for q in theirs)
    assert not all(any(np.all(q - 0.5 <= p) for q in theirs) for p in ours)


def test_one_objective_works_too() -> None:
    names = [f"x{i}" for i in range(5)]
    best = {}
    for kind, sampler in (("nsga2", NSGAIISampler(population_size=20, seed=0)), ("random", RandomSampler())):
        run = Run(sampler)
        run.optimize(sphere(names), 500)
        best[kind] = min(run.complete_values())
    assert best["nsga2"] < best["random"] / 2


def test_constrained_problems_end_mostly_feasible() -> None:
    """A disk of a sixth of [0, 1]^2 is feasible; the front runs across it. Random search stays
    about 16% feasible; NSGA-II's parents end all feasible, and most of its last trials too
    (the rest are mutations out of the disk)."""

    def problem(t: Trial) -> tuple[tuple[float, float], list[float]]:
        x = [t.suggest_float(f"x{i}", 0.0, 1.0) for i in range(6)]
        f2 = (1 - x[0] + (x[1] - 0.5) ** 2) * (1 + sum(x[2:]))
        return (x[0], f2), [(x[0] - 0.5) ** 2 + (x[1] - 0.5) ** 2 - 0.05]

    runs = {kind: Run(sampler, directions=TWO) for kind, sampler in (
        ("nsga2", NSGAIISampler(population_size=20, seed=0)), ("random", RandomSampler()))}
    share = {}
    for kind, run in runs.items():
        run.optimize(problem, 400)
        share[kind] = np.mean([r.constraints[0] <= 0 for r in run.study.trials[-200:]])  # type: ignore[index]
    assert share["nsga2"] > 0.6 and share["random"] < 0.3
    nsga = runs["nsga2"]
    chosen = nsga.study.sampler
    assert isinstance(chosen, NSGAIISampler)
    last = chosen.generation_of(nsga.study.view, nsga.study.trials[-1])
    parents = [nsga.study.trials[n] for n in chosen.parent_numbers(nsga.study.view, last)]
    assert len(parents) == 20 and all(r.constraints[0] <= 0 for r in parents)  # type: ignore[index]
