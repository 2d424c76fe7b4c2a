"""CmaEsSampler: values on their grids, reproducible, replayable from the view alone, and
better than random search where CMA-ES should be."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.samplers.studies import Run, Trial, sphere
from tests.unit.strategies import float_dists, int_dists
from tunefleet.core.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    check_value,
)
from tunefleet.core.study import Study
from tunefleet.core.trial import TrialState
from tunefleet.pruners import NopPruner
from tunefleet.registry import build, spec_of
from tunefleet.samplers import RandomSampler, TPESampler
from tunefleet.samplers.cmaes import CmaEsSampler, CmaStatus
from tunefleet.samplers.cmaes_state import Cma, default_popsize

VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "margin": {"with_margin": True},
    "separable": {"use_separable_cma": True},
    "lr-adapt": {"lr_adapt": True},
    "ipop": {"restart_strategy": "ipop", "popsize": 4},
    "bipop": {"restart_strategy": "bipop", "popsize": 4, "consider_pruned_trials": True},
}


def xyk(t: Trial) -> float:
    x = t.suggest_float("x", -3.0, 3.0)
    y = t.suggest_float("y", 1e-3, 1e2, log=True)
    k = t.suggest_int("k", 0, 12, step=3)
    return (x - 1) ** 2 + math.log10(y) ** 2 + (k - 6) ** 2 / 10


def rastrigin(t: Trial) -> float:
    xs = [t.suggest_float(n, -5.12, 5.12) for n in ("x", "y")]
    return 20 + sum(x * x - 10 * math.cos(2 * math.pi * x) for x in xs)


def status(study: Study) -> CmaStatus:
    assert isinstance(study.sampler, CmaEsSampler)
    return study.sampler.state(study.view)


def record(run: Run, result: tuple[list[Any], Any]) -> Any:
    run.events += result[0]
    return result[1]


def scrambled_batches(run: Run, objective: Callable[[Trial], float], sizes: list[int],
                      seed: int = 0) -> list[Trial]:
    """Ask each batch at once, then tell it in a random order; every 5th trial FAILs and every
    7th is PRUNED with its value reported."""
    rng = np.random.default_rng(seed)
    out: list[Trial] = []
    for size in sizes:
        batch = [run.ask() for _ in range(size)]
        values = [objective(t) for t in batch]
        for i in rng.permutation(size):
            t, v = batch[int(i)], values[int(i)]
            if t.number % 5 == 4:
                run.tell(t, None, state=TrialState.FAIL)
            elif t.number % 7 == 6:
                record(run, run.study.report(t.number, {0: v}, **run.kw()))
                run.tell(t, None, state=TrialState.PRUNED)
            else:
                run.tell(t, v)
        out += batch
    return out


# ---- values ------------------------------------------------------------------------------------
numeric = st.one_of(float_dists(), int_dists()).filter(lambda d: not d.single())


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dists=st.lists(numeric, min_size=2, max_size=3), seed=st.integers(0, 2**31),
       losses=st.lists(st.floats(-1e6, 1e6), min_size=24, max_size=24))
def test_values_are_on_their_grids_and_inside(variant: str, dists: list[Distribution], seed: int,
                                              losses: list[float]) -> None:
    run = Run(CmaEsSampler(seed=seed, **VARIANTS[variant]))
    seen: list[Trial] = []

    def objective(t: Trial) -> float:
        seen.append(t)
        for i, d in enumerate(dists):
            t.suggest(f"p{i}", d)
        return losses[len(seen) - 1]

    run.optimize(objective, 4)
    run.batch(objective, 12)
    run.optimize(objective, 8)
    assert status(run.study).active
    for t in seen:
        for name, dist in t.distributions.items():
            value = t.params[name]
            check_value(name, dist, value)
            assert type(value) is (int if isinstance(dist, IntDistribution) else float)


def test_int_params_with_margin_stay_ints_and_keep_moving() -> None:
    """Without a margin the int axis fixes on one value; with it, other values keep coming."""

    def objective(t: Trial) -> float:
        k = t.suggest_int("k", 0, 4)
        return sum((t.suggest_float(n, -1.0, 1.0) - 0.2) ** 2 for n in ("a", "b")) + 0.01 * k

    tails = {}
    for margin in (False, True):
        run = Run(CmaEsSampler(seed=1, with_margin=margin))
        run.optimize(objective, 400)
        ks = [r.params["k"] for r in run.study.trials]
        assert all(type(k) is int and 0 <= k <= 4 for k in ks)
        tails[margin] = set(ks[-150:])
    assert tails[False] == {0}
    assert len(tails[True]) >= 2 and 0 in tails[True]


def test_categorical_params_are_sampled_at_ask_too() -> None:
    run = Run(CmaEsSampler(seed=2))
    c = CategoricalDistribution(("a", "b", "c"))
    run.optimize(lambda t: xyk(t) + (t.suggest("c", c) != "b"), 30)
    seen = [r.params["c"] for r in run.study.trials]
    assert set(seen) == {"a", "b", "c"}
    assert run.round_trips <= 4  # the first trial suggests one by one; later ones are pre-sampled
    assert status(run.study).names == ("k", "x", "y")


@pytest.mark.parametrize("independent", ["tpe", "random"])
@pytest.mark.parametrize("directions", [("minimize", "maximize"), ("minimize",)])
def test_the_independent_sampler_where_cma_es_does_not_apply(
    directions: tuple[str, ...], independent: str
) -> None:
    """Several objectives, or one numeric param only: every param is the independent
    sampler's (an independent TPE with the same seed, or RandomSampler)."""
    other = (TPESampler(seed=4, multivariate=False) if independent == "tpe"
             else RandomSampler(seed=4))
    ours = Run(CmaEsSampler(seed=4, independent_sampler=independent), directions)
    theirs = Run(other, directions)

    def objective(t: Trial) -> Any:
        v = t.suggest_float("x", 0.0, 1.0) + (t.suggest_categorical("c", [1, 2]) == 2)
        return (v, -v) if len(directions) == 2 else v

    ours.optimize(objective, 30)
    theirs.optimize(objective, 30)
    assert [r.params for r in ours.study.trials] == [r.params for r in theirs.study.trials]
    assert not status(ours.study).active


def test_params_outside_the_cma_space_learn_with_the_tpe_fallback() -> None:
    """A categorical param is not CMA-ES's: the default independent TPE settles on its best
    choice, where random search (Optuna's fallback) keeps trying all ten."""

    def share_of_best(independent: str) -> float:
        run = Run(CmaEsSampler(seed=5, independent_sampler=independent))
        c = CategoricalDistribution(tuple(range(10)))
        run.optimize(lambda t: xyk(t) + 5.0 * (t.suggest("c", c) != 7), 80)
        tail = [r.params["c"] for r in run.study.trials[-30:]]
        return tail.count(7) / len(tail)

    assert share_of_best("tpe") >= 0.5
    assert share_of_best("random") <= 0.3


def test_the_independent_sampler_is_a_name() -> None:
    with pytest.raises(ValueError, match="independent_sampler must be 'tpe' or 'random'"):
        CmaEsSampler(independent_sampler=RandomSampler())  # type: ignore[arg-type]


# ---- reproducible, and a function of the view ---------------------------------------------------
def test_same_seed_same_points_other_seed_other_points() -> None:
    def points(seed: int) -> list[dict[str, Any]]:
        run = Run(CmaEsSampler(seed=seed, popsize=5))
        run.optimize(xyk, 6)
        scrambled_batches(run, xyk, [9, 4])
        run.optimize(xyk, 6)
        return [r.params for r in run.study.trials]

    assert points(7) == points(7)
    assert points(7) != points(8)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_fresh_sampler_asks_what_a_warm_one_asks_after_batches(variant: str) -> None:
    """A coordinator restarted from the journal (a new Study, a new sampler) asks the same
    point as the one that asked every trial: after scrambled batches, failures, pruned,
    enqueued and added trials, and with trials still running."""

    def factory() -> CmaEsSampler:
        return CmaEsSampler(seed=11, **VARIANTS[variant])

    run = Run(factory())
    dists: dict[str, Distribution] = {
        "x": FloatDistribution(-3.0, 3.0), "y": FloatDistribution(1e-3, 1e2, log=True),
        "k": IntDistribution(0, 12, step=3),
    }
    for stage in range(4):
        run.optimize(xyk, 3)
        scrambled_batches(run, xyk, [7, 13], seed=stage)
        pending = [run.ask() for _ in range(3)]  # still RUNNING at the restart
        record(run, run.study.enqueue({"x": 0.5}, **run.kw()))
        record(run, run.study.add_trial(state=TrialState.COMPLETE, values=9.0,
                                        params={"x": 0.0, "y": 1.0, "k": 3}, distributions=dists,
                                        **run.kw()))
        replica = Study("s", run.study.settings, factory(), NopPruner())
        for event in run.events:
            replica.apply(event)
        assert status(replica) == status(run.study)
        for _ in range(2):  # the enqueued trial, then a fresh one
            kw = run.kw()
            warm = record(run, run.study.ask("w", **kw))
            cold = replica.ask("w", **kw)[1]
            assert warm == cold
        for t in pending:
            run.tell(t, xyk(t))
    state = status(run.study)
    assert state.active and (state.generation >= 4 or state.restarts > 0)


# ---- batches and generations -------------------------------------------------------------------
def test_sixteen_asks_at_once_are_distinct_and_each_batch_is_a_generation() -> None:
    names = [f"x{i}" for i in range(5)]
    run = Run(CmaEsSampler(seed=3))
    run.optimize(sphere(names), 1)  # the startup trial
    assert status(run.study).popsize == default_popsize(5) == 8
    for g in range(6):
        assert status(run.study).generation == g
        batch = run.batch(sphere(names), 16)
        points = {tuple(t.params[n] for n in names) for t in batch}
        assert len(points) == 16
    assert status(run.study).generation == 6


def test_a_generation_waits_for_its_own_members() -> None:
    """Failed members do not count; the generation is updated once popsize of its members
    are COMPLETE (or PRUNED, when considered)."""
    for consider in (False, True):
        run = Run(CmaEsSampler(seed=5, popsize=4, consider_pruned_trials=consider))
        run.optimize(xyk, 1)
        batch = [run.ask() for _ in range(6)]
        for t in batch[:2]:
            run.tell(t, None, state=TrialState.FAIL)
        for t in batch[2:4]:
            record(run, run.study.report(t.number, {0: 1.0}, **run.kw()))
            run.tell(t, None, state=TrialState.PRUNED)
        run.tell(batch[4], xyk(batch[4]))
        assert status(run.study).generation == 0
        run.tell(batch[5], xyk(batch[5]))
        assert status(run.study).generation == (1 if consider else 0)


def test_a_narrower_space_starts_a_new_run() -> None:
    run = Run(CmaEsSampler(seed=6, popsize=4))
    run.optimize(xyk, 12)
    assert status(run.study).names == ("k", "x", "y")
    run.optimize(lambda t: t.suggest_float("x", -3.0, 3.0) ** 2 + t.suggest_int("k", 0, 12, step=3), 1)
    state = status(run.study)
    assert state.names == ("k", "x") and state.generation == 0
    run.optimize(lambda t: t.suggest_float("x", -3.0, 3.0) ** 2 + t.suggest_int("k", 0, 12, step=3), 8)
    assert status(run.study).generation == 2


def test_x0_and_sigma0_set_the_start() -> None:
    run = Run(CmaEsSampler(x0={"x": 2.0, "y": 10.0}, sigma0=0.05))
    run.optimize(xyk, 1)
    state = status(run.study)
    assert state.names == ("k", "x", "y") and state.sigma == 0.05
    assert state.mean == pytest.approx((0.5, 5 / 6, 0.8))


def test_a_step_size_that_underflows_is_seen_as_degenerate() -> None:
    """Told its own mean every time, a run shrinks its step size until it underflows; the
    sampler then starts the run again rather than divide by zero."""
    cma = Cma(np.full(2, 0.5), 1e-10, 4)
    for _ in range(2000):
        if cma.degenerate():
            break
        cma.tell(np.full((4, 2), 0.5), np.arange(4.0))
    assert cma.degenerate() and 0 < cma.sigma <= 1e-200


# ---- search ---------------------------------------------------------------------------------------
def test_beats_random_search_on_a_shifted_sphere() -> None:
    names = [f"x{i}" for i in range(6)]
    objective = sphere(names, center=0.3)

    def best(sampler: Any) -> float:
        run = Run(sampler)
        run.optimize(objective, 250)
        return min(run.complete_values())

    ours = statistics.median(best(CmaEsSampler(seed=s)) for s in range(3))
    theirs = statistics.median(best(RandomSampler(seed=s)) for s in range(3))
    assert ours < theirs / 20


def test_maximizes_when_asked() -> None:
    run = Run(CmaEsSampler(seed=0), ("maximize",))
    run.optimize(lambda t: -sphere(["a", "b", "c"], center=-0.5)(t), 150)
    assert max(run.complete_values()) > -1e-3


@pytest.mark.parametrize("strategy", ["ipop", "bipop"])
def test_restarts_on_a_multimodal_function(strategy: str) -> None:
    run = Run(CmaEsSampler(seed=0, restart_strategy=strategy))
    view = run.study.view
    base = default_popsize(2)
    popsizes = set()
    while status(run.study).restarts < 1 and len(view.trials) < 2000:
        run.trial(rastrigin)
        popsizes.add(status(run.study).popsize)
    state = status(run.study)
    assert state.restarts == 1 and state.generation == 0
    assert state.mean != (0.5, 0.5)  # a restart starts at a random point
    if strategy == "ipop":
        assert popsizes == {base, 2 * base}
    else:  # the first restart is a small one: base <= popsize <= base * inc_popsize
        assert base <= state.popsize <= 2 * base and state.sigma <= 1 / 6
    replica = Study("s", run.study.settings, CmaEsSampler(seed=0, restart_strategy=strategy), NopPruner())
    for event in run.events:
        replica.apply(event)
    assert status(replica) == state  # the restarts are replayed too


@pytest.mark.parametrize("kind", ["full", "separable", "lr-adapt", "margin"])
def test_the_update_is_the_cmaes_packages(kind: str) -> None:
    """Told the same generations, our state is the ``cmaes`` package's (0.13), the reference
    Optuna uses (a test dependency only; its private attributes are read)."""
    import cmaes
    rng = np.random.default_rng(0)
    mean, lam = np.full(4, 0.5), 8
    bounds = np.tile([0.0, 1.0], (4, 1))
    steps = np.array([0.25, 0.0, 0.1, 0.0]) if kind == "margin" else None
    ours = Cma(mean, 1 / 6, lam, separable=kind == "separable", steps=steps, lr_adapt=kind == "lr-adapt")
    if kind == "separable":
        ref = cmaes.SepCMA(mean=mean.copy(), sigma=1 / 6, bounds=bounds, population_size=lam)
    elif kind == "margin":
        ref = cmaes.CMAwM(mean=mean.copy(), sigma=1 / 6, bounds=bounds, steps=steps, population_size=lam)
    else:
        ref = cmaes.CMA(mean=mean.copy(), sigma=1 / 6, bounds=bounds, population_size=lam,
                        lr_adapt=kind == "lr-adapt")
    for _ in range(30):
        points = [ours.sample(rng, 40) for _ in range(lam)]
        xs = np.array([x for x, _ in points])
        ys = np.array([float(np.sum((u - 0.3) ** 2 * np.arange(1, 5))) for _, u in points])
        ours.tell(xs, ys)
        ref.tell([(x.copy(), y) for x, y in zip(xs, ys, strict=True)])
    inner = ref._cma if kind == "margin" else ref
    np.testing.assert_allclose(ours.mean, inner._mean, rtol=0, atol=1e-12)
    assert ours.sigma == pytest.approx(inner._sigma, rel=1e-9)
    np.testing.assert_allclose(ours.C, inner._C, rtol=0, atol=1e-12)
    if kind == "margin":
        np.testing.assert_allclose(ours.A, ref._A, rtol=1e-9)
    assert ours.should_stop() == ref.should_stop()


# ---- options -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("options", "message"), [
    ({"x0": [0.5, 0.5]}, "x0 must be a dict of param names to finite numbers or None"),
    ({"x0": {"x": "a"}}, "x0 must be a dict"),
    ({"sigma0": 0.0}, "sigma0 must be a number > 0 or None"),
    ({"sigma0": math.inf}, "sigma0 must be a number > 0"),
    ({"n_startup_trials": -1}, "n_startup_trials must be an int >= 0, got -1"),
    ({"restart_strategy": "ipopp"}, "restart_strategy must be None, 'ipop' or 'bipop', got 'ipopp'"),
    ({"popsize": 1}, "popsize must be an int >= 2 or None, got 1"),
    ({"popsize": 4.0}, "popsize must be an int >= 2 or None"),
    ({"inc_popsize": 0}, "inc_popsize must be an int >= 1, got 0"),
    ({"seed": "1"}, "seed must be an int or None"),
    ({"use_separable_cma": True, "with_margin": True}, "cannot be used together"),
    ({"lr_adapt": True, "with_margin": True}, "lr_adapt cannot be used with use_separable_cma or"),
    ({"lr_adapt": True, "use_separable_cma": True}, "lr_adapt cannot be used with"),
])
def test_bad_options_say_what_is_wrong(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CmaEsSampler(**options)


def test_options_round_trip_through_json() -> None:
    registry = {"cmaes": CmaEsSampler}
    options = {"x0": {"x": 0.5}, "sigma0": 0.2, "n_startup_trials": 3, "restart_strategy": "bipop",
               "popsize": 6, "inc_popsize": 3, "consider_pruned_trials": True,
               "use_separable_cma": False, "with_margin": True, "lr_adapt": False,
               "independent_sampler": "random", "seed": 9}
    sampler = build("sampler", registry, "cmaes", json.loads(json.dumps(options)))
    name, spec = spec_of(registry, sampler)
    assert (name, spec) == ("cmaes", options)
    assert spec_of(registry, build("sampler", registry, "cmaes", json.loads(json.dumps(spec))))[1] == spec
    assert spec_of(registry, CmaEsSampler())[1]["seed"] is None
