"""GPSampler and its model: options, the search space's kinds, reproducibility, the GP fit,
log EI, sample efficiency, pending trials, constraints. Studies are driven through Study's
commands."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from scipy import special

from tests.unit.samplers.studies import Run, Trial, sphere, unit_position
from tunefleet.core.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    check_value,
)
from tunefleet.core.replies import TrialAssigned
from tunefleet.core.study import Study
from tunefleet.pruners import NopPruner
from tunefleet.samplers import RandomSampler
from tunefleet.samplers import gp_model as gpm
from tunefleet.samplers.gp import GPSampler, fit_anchor, spread

X4 = [f"x{i}" for i in range(4)]


# ---- options --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"n_startup_trials": -1}, "n_startup_trials must be an int >= 0"),
        ({"n_startup_trials": 2.5}, "n_startup_trials must be an int"),
        ({"max_trials_in_model": 1}, "max_trials_in_model must be an int >= 2"),
        ({"max_trials_in_model": True}, "max_trials_in_model must be an int"),
        ({"deterministic_objective": 1}, "deterministic_objective must be True or False"),
        ({"seed": "7"}, "seed must be an int or None"),
    ],
)
def test_bad_options_are_value_errors(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GPSampler(**options)


def test_options_are_attributes_and_json() -> None:
    s = GPSampler()
    assert (s.n_startup_trials, s.deterministic_objective, s.seed, s.max_trials_in_model) == (
        10, False, None, 1000)
    options: dict[str, Any] = {
        "n_startup_trials": 4, "deterministic_objective": True, "seed": 3, "max_trials_in_model": 50}
    s = GPSampler(**options)
    assert {k: getattr(s, k) for k in options} == json.loads(json.dumps(options))


# ---- the space ------------------------------------------------------------------------------
def test_start_up_and_several_objectives_are_the_random_samplers() -> None:
    objective = sphere(X4)
    gp, rnd = Run(GPSampler(seed=7)), Run(RandomSampler(seed=7))
    gp.optimize(objective, 10)
    rnd.optimize(objective, 10)
    assert [r.params for r in gp.study.trials] == [r.params for r in rnd.study.trials]

    def two(t: Trial) -> tuple[float, float]:
        x = t.suggest_float("x", 0.0, 1.0)
        return x, 1.0 - x

    gp, rnd = Run(GPSampler(seed=2), directions=("minimize", "minimize")), Run(RandomSampler(seed=2))
    for _ in range(14):
        gp.trial(two)
        rnd.trial(lambda t: two(t)[0])
    assert [r.params for r in gp.study.trials] == [r.params for r in rnd.study.trials]


SPACE: dict[str, Distribution] = {
    "lr": FloatDistribution(1e-5, 1e-1, log=True),
    "drop": FloatDistribution(0.0, 0.5, step=0.05),
    "units": IntDistribution(16, 256, step=16),
    "layers": IntDistribution(1, 64, log=True),
    "act": CategoricalDistribution(("relu", None, 1.5, True)),
    "x": FloatDistribution(-3.0, 2.0),
}


def _mixed(t: Trial) -> float:
    v: dict[str, Any] = {k: t.suggest(k, d) for k, d in SPACE.items()}
    return ((math.log10(v["lr"]) + 3) ** 2 + (v["drop"] - 0.2) ** 2 + (v["units"] - 100) ** 2 / 1e4
            + (math.log2(v["layers"]) - 3) ** 2 + (v["act"] is not None) + v["x"] ** 2)


def test_values_fit_their_bounds_steps_logs_and_choices() -> None:
    run = Run(GPSampler(seed=1, n_startup_trials=5))
    run.optimize(_mixed, 14)
    run.batch(_mixed, 4)
    for r in run.study.trials:
        for name, dist in SPACE.items():
            value = r.params[name]
            check_value(name, dist, value)
            if isinstance(dist, FloatDistribution):
                assert type(value) is float
            elif isinstance(dist, IntDistribution):
                assert type(value) is int
    assert run.round_trips == len(SPACE)  # after the first trial, everything is sampled at ask


def test_categorical_params_are_learnt() -> None:
    def objective(t: Trial) -> float:
        c = t.suggest_categorical("c", ["a", "b", "c", "d", "e"])
        return (t.suggest_float("x", -1.0, 1.0) - 0.2) ** 2 + {"c": 0.0, "a": 0.5}.get(c, 1.0)

    run = Run(GPSampler(seed=4))
    run.optimize(objective, 25)
    later = [r.params["c"] for r in run.study.trials[15:]]
    assert later.count("c") >= 7
    assert min(run.complete_values()) < 0.01


def test_maximize_is_minimizing_the_negated_values() -> None:
    run = Run(GPSampler(seed=8, n_startup_trials=5), directions=("maximize",))
    run.optimize(lambda t: -((t.suggest_float("x", -2.0, 2.0) - 0.7) ** 2), 14)
    assert max(run.complete_values()) > -1e-3


# ---- reproducibility ------------------------------------------------------------------------
def _points(seed: int) -> list[dict[str, Any]]:
    run = Run(GPSampler(seed=seed, n_startup_trials=4))
    run.optimize(lambda t: (_mixed(t), [t.suggest_float("x", -3.0, 2.0) - 1.0]), 8)
    run.batch(_mixed, 2)
    return [r.params for r in run.study.trials]


def test_same_seed_and_history_give_the_same_points() -> None:
    assert _points(5) == _points(5)
    assert _points(5) != _points(6)


def test_a_fresh_sampler_asks_what_a_warm_one_asks_with_constraints_and_pending_trials() -> None:
    run = Run(GPSampler(seed=3, n_startup_trials=4))

    def objective(t: Trial) -> tuple[float, list[float]]:
        x, c = t.suggest_float("x", -2.0, 2.0), t.suggest_categorical("c", ["p", "q"])
        return x**2 + (c == "q"), [0.5 - x]

    run.optimize(objective, 12)
    pending = [run.ask(), run.ask()]  # RUNNING: fantasies for the next ask
    replica = Study("s", run.study.settings, GPSampler(seed=3, n_startup_trials=4), NopPruner())
    for event in run.events:
        replica.apply(event)
    warm = run.study.ask("w", request_id="a", now=99.0)[1]
    cold = replica.ask("w", request_id="a", now=99.0)[1]
    assert isinstance(warm, TrialAssigned) and warm == cold
    assert pending[1].number < warm.number


# ---- the model ------------------------------------------------------------------------------
def test_the_fitted_gp_interpolates_a_smooth_function() -> None:
    x = np.linspace(0.0, 1.0, 12)[:, None]
    f = lambda z: np.sin(6.0 * z[:, 0]) + z[:, 0]  # noqa: E731
    y = f(x)
    mu, sd = y.mean(), y.std()
    is_cat = np.array([False])
    params = gpm.fit(x, (y - mu) / sd, is_cat, deterministic=False)
    gp = gpm.GP(x, (y - mu) / sd, is_cat, params)
    test = np.linspace(0.02, 0.98, 31)[:, None]
    mean, var = gp.predict(test)
    assert np.max(np.abs(mu + sd * mean - f(test))) < 0.05
    at_data, var_data = gp.predict(x)
    assert np.allclose(mu + sd * at_data, y, atol=0.02)
    assert var_data.max() < var.max()


def test_the_fit_tells_a_short_lengthscale_from_a_long_one() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((40, 2))
    y = np.sin(8.0 * x[:, 0])
    params = gpm.fit(x, (y - y.mean()) / y.std(), np.array([False, False]), deterministic=False)
    assert params.ils[0] > 20 * params.ils[1]  # dim 0 varies fast, dim 1 not at all
    det = gpm.fit(x, (y - y.mean()) / y.std(), np.array([False, False]), deterministic=True)
    assert det.noise == gpm.MIN_NOISE


def test_the_gradients_of_the_posterior_are_right() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((15, 3))
    x[:, 2] = rng.integers(0, 3, 15)
    is_cat = np.array([False, False, True])
    gp = gpm.GP(x, rng.standard_normal(15), is_cat, gpm.Params(np.array([3.0, 0.5, 1.0]), 1.2, 0.01))
    pts = np.array([[0.3, 0.6, 1.0], [0.9, 0.1, 2.0]])
    mean, var, dmean, dvar = gp.predict_grad(pts)
    m0, v0 = gp.predict(pts)
    assert np.allclose(mean, m0) and np.allclose(var, v0)
    for j in (0, 1):
        step = np.zeros(3)
        step[j] = 1e-6
        m1, v1 = gp.predict(pts + step)
        assert np.allclose((m1 - m0) / 1e-6, dmean[:, j], rtol=1e-4, atol=1e-6)
        assert np.allclose((v1 - v0) / 1e-6, dvar[:, j], rtol=1e-4, atol=1e-6)
    assert np.all(dmean[:, 2] == 0)


def test_log_ei_is_log_of_ei_and_stays_finite_where_ei_underflows() -> None:
    mean, var, best = np.linspace(-3.0, 6.0, 50), np.full(50, 0.7), 0.4
    s = math.sqrt(0.7)
    z = (best - mean) / s
    ei = s * (z * special.ndtr(z) + np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi))
    assert np.allclose(gpm.log_ei(mean, var, best), np.log(ei), rtol=1e-9, atol=1e-12)
    z = -np.logspace(0.5, 12, 40)
    lh = gpm.log_h(z)
    assert np.all(np.isfinite(lh)) and np.all(np.diff(lh) < 0)
    assert math.exp(-0.5 * 40.0**2) == 0.0  # plain EI underflows here; log EI does not
    asymptote = -0.5 * 1600 - 0.5 * math.log(2 * math.pi) - 2 * math.log(40.0) + math.log1p(
        -3 / 40**2 + 15 / 40**4)  # log(phi(z) / z^2 (1 - 3 / z^2 + 15 / z^4 - ...))
    assert gpm.log_h(np.array([-40.0]))[0] == pytest.approx(asymptote, abs=1e-6)
    for edge in (-1.0, -1.0 / math.sqrt(np.finfo(float).eps)):  # continuous at the branches
        a, b = gpm.log_h(np.array([edge * (1 - 1e-9), edge * (1 + 1e-9)]))
        assert a == pytest.approx(b, rel=1e-6)
    val, dm, dv = gpm.log_ei_grad(np.array([0.5, 30.0]), np.array([0.3, 0.3]), 0.0)
    e = 1e-6
    assert np.allclose((gpm.log_ei(np.array([0.5 + e, 30.0 + e]), np.array([0.3, 0.3]), 0.0) - val) / e,
                       dm, rtol=1e-4)
    assert np.allclose((gpm.log_ei(np.array([0.5, 30.0]), np.array([0.3 + e, 0.3 + e]), 0.0) - val) / e,
                       dv, rtol=1e-4)


def test_spread_keeps_the_best_half_and_an_even_spread_and_anchors_are_stable() -> None:
    key = np.array([5.0, 1.0, 9.0, 0.5, 7.0, 3.0, 8.0, 2.0, 6.0, 4.0])
    feasible = np.ones(10, dtype=bool)
    feasible[3] = False
    rows = spread(key, feasible, 6)
    assert list(rows) == [0, 1, 4, 5, 7, 9]  # best feasible 1, 7, 5; then 0, 4, 9 of the rest
    assert list(spread(key, feasible, 20)) == list(range(10))
    anchors = [fit_anchor(n) for n in range(1, 3000)]
    assert all(0 < a <= n for n, a in zip(range(1, 3000), anchors, strict=True))
    assert all(b >= a for a, b in zip(anchors, anchors[1:], strict=False))
    assert len(set(anchors[999:2000])) <= 20


def test_a_capped_model_still_optimises() -> None:
    run = Run(GPSampler(seed=2, max_trials_in_model=12, n_startup_trials=5))
    run.optimize(sphere(X4[:2]), 30)
    assert min(run.complete_values()) < 0.02


# ---- how well it optimises --------------------------------------------------------------------
def test_gp_beats_random_search_on_a_shifted_sphere() -> None:
    objective = sphere(X4, center=0.3)
    ours, theirs = [], []
    for seed in range(3):
        gp, rnd = Run(GPSampler(seed=seed)), Run(RandomSampler(seed=seed))
        gp.optimize(objective, 40)
        rnd.optimize(objective, 40)
        ours.append(min(gp.complete_values()))
        theirs.append(min(rnd.complete_values()))
    assert np.median(ours) < 0.1 * np.median(theirs)


def _batch_spread(use_pending: bool) -> float:
    sampler = GPSampler(seed=11)
    sampler._use_pending = use_pending
    run = Run(sampler)
    objective = sphere(X4[:3], center=0.5)
    run.optimize(objective, 12)
    trials = [run.ask() for _ in range(16)]
    space = FloatDistribution(-1.0, 1.0)
    pts = np.array([[unit_position(space, t.suggest_float(n, -1.0, 1.0)) for n in X4[:3]] for t in trials])
    d = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))
    d[np.diag_indices(16)] = np.inf
    return float(d.min(axis=1).mean())


def test_pending_trials_spread_a_batch() -> None:
    apart, together = _batch_spread(True), _batch_spread(False)
    assert apart > 0.08
    assert apart > 4 * together


def test_constraints_steer_to_feasible_points() -> None:
    def objective(t: Trial) -> tuple[float, list[float]]:
        x, y = t.suggest_float("x", 0.0, 1.0), t.suggest_float("y", 0.0, 1.0)
        return (x - 0.9) ** 2 + (y - 0.9) ** 2, [x + y - 1.0]

    run = Run(GPSampler(seed=5))
    run.optimize(objective, 25)
    later = [r.constraints[0] for r in run.study.trials[12:] if r.constraints is not None]
    # the optimum (0.5, 0.5), at 0.32, is on the boundary: later trials crowd there
    assert sum(c <= 1e-3 for c in later) >= 0.7 * len(later)
    best = min(r.values[0] for r in run.study.trials
               if r.values is not None and r.constraints is not None and r.constraints[0] <= 0)
    assert best < 0.34


def test_the_best_feasible_trial_is_a_start_of_the_local_search() -> None:
    """The incumbent that ``_maximize`` starts one L-BFGS-B run from is the point of the best
    feasible trial (an infeasible one, however good, is not), on the GP's [0, 1] scales;
    with nothing feasible there is none."""
    def objective(t: Trial) -> tuple[float, list[float]]:
        x = t.suggest_float("x", 0.0, 10.0)
        return (x - 2.0) ** 2, [x - 5.0]  # feasible when x <= 5

    run = Run(GPSampler(seed=1, n_startup_trials=30))
    run.optimize(objective, 30)
    sampler, view = run.study.sampler, run.study.view
    assert isinstance(sampler, GPSampler)
    model = sampler._model_of(view, {"x": FloatDistribution(0.0, 10.0)})
    assert model is not None and model.incumbent is not None
    xs = view.param("x")
    feasible = xs <= 5.0
    best = xs[feasible][np.argmin((xs[feasible] - 2.0) ** 2)]
    assert model.incumbent[0] == pytest.approx(best / 10.0)

    none = Run(GPSampler(seed=1, n_startup_trials=10))
    none.optimize(lambda t: (t.suggest_float("x", 0.0, 1.0), [1.0]), 12)  # never feasible
    blind = none.study.sampler
    assert isinstance(blind, GPSampler)
    model = blind._model_of(none.study.view, {"x": FloatDistribution(0.0, 1.0)})
    assert model is not None and model.incumbent is None and model.best is None
