"""The Parzen estimators of TPE: densities that integrate to one, equal to a direct sum of
truncated normals, samples on each axis's grid."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from tunefleet.core.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
)
from tunefleet.samplers.parzen import (
    CAT,
    CONT,
    DISC,
    Axis,
    Parzen,
    bandwidths,
    floor_width,
    log_gauss_mass,
    log_unit_mass,
    merge_rows,
)

AXES = {
    "float": FloatDistribution(-5.0, 10.0),
    "log": FloatDistribution(1e-4, 1.0, log=True),
    "step": FloatDistribution(0.0, 1.0, step=0.1),
    "int": IntDistribution(1, 6),
    "int-log": IntDistribution(1, 1000, log=True),
    "int-wide": IntDistribution(0, 100000, step=5),
    "cat": CategoricalDistribution(("a", "b", "c")),
}


def estimator(dists: list[Distribution], n: int, seed: int = 0, prior_weight: float = 1.0,
              weights: np.ndarray | None = None) -> tuple[list[Axis], Parzen]:
    rng = np.random.default_rng(seed)
    axes = [Axis.of(d) for d in dists]
    obs = np.empty((n, len(axes)))
    for i, a in enumerate(axes):
        if a.kind == CAT:
            obs[:, i] = rng.integers(0, a.n_choices, n)
        else:
            obs[:, i] = a.to_unit(a.from_unit(rng.beta(2, 5, n)))  # clustered, on the grid
    w = np.ones(n) if weights is None else weights
    return axes, Parzen(axes, obs, w, prior_weight=prior_weight, consider_endpoints=False)


def grid_values(a: Axis) -> np.ndarray:
    if a.kind == CAT:
        return np.arange(a.n_choices, dtype=float)
    return np.arange(a.low, a.high + a.step / 2, a.step)


@pytest.mark.parametrize("n", [0, 1, 5, 200])
@pytest.mark.parametrize("kind", ["step", "int", "int-log", "cat"])
def test_discrete_masses_sum_to_one(kind: str, n: int) -> None:
    axes, p = estimator([AXES[kind]], n)
    x = grid_values(axes[0])[:, None]
    total = float(np.exp(p.log_pdf(x)).sum())
    assert total == pytest.approx(1.0, abs=2e-3)


@pytest.mark.parametrize("n", [0, 1, 5, 200])
@pytest.mark.parametrize("kind", ["float", "log"])
def test_continuous_densities_integrate_to_one(kind: str, n: int) -> None:
    axes, p = estimator([AXES[kind]], n)
    t = np.linspace(0.0, 1.0, 200001)
    x = axes[0].from_unit(t)[:, None]
    assert np.trapezoid(np.exp(p.log_pdf(x)), t) == pytest.approx(1.0, abs=1e-4)


def test_a_product_over_a_small_grid_sums_to_one() -> None:
    dists = [AXES["int"], AXES["cat"], AXES["step"]]
    axes, p = estimator(dists, 40)
    mesh = np.array(np.meshgrid(*[grid_values(a) for a in axes], indexing="ij")).reshape(3, -1).T
    assert float(np.exp(p.log_pdf(mesh)).sum()) == pytest.approx(1.0, abs=2e-3)


def reference_log_pdf(axes: list[Axis], p: Parzen, x: np.ndarray) -> np.ndarray:
    """The mixture summed kernel by kernel with scipy's truncated normal."""
    out = np.zeros((len(x), len(p.weights)))
    for k in range(len(p.weights)):
        logp = np.full(len(x), math.log(p.weights[k]) if p.weights[k] > 0 else -np.inf)
        for j, i in enumerate(p.num):
            mu, s = p.mu[j, k], p.sigma[j, k]
            dist = stats.truncnorm(-mu / s, (1 - mu) / s, loc=mu, scale=s)
            if axes[i].kind == CONT:
                logp += dist.logpdf(axes[i].to_unit(x[:, i]))
            else:
                left, right = axes[i].cell(x[:, i])
                with np.errstate(divide="ignore"):  # a kernel far away: no mass to speak of
                    logp += np.log(dist.cdf(right) - dist.cdf(left))
        for j, i in enumerate(p.cat):
            c = axes[i].n_choices
            if k == p.n:
                logp += -math.log(c)
            else:
                per = p.prior_weight / (p.n + 1)
                hit = x[:, i] == p.cat_obs[j][k]
                logp += np.log(np.where(hit, per + 1, per) / (per * c + 1))
        out[:, k] = logp
    return np.logaddexp.reduce(out, axis=1)


@settings(max_examples=30, deadline=None)
@given(kinds=st.lists(st.sampled_from(sorted(AXES)), min_size=1, max_size=4, unique=True),
       n=st.integers(0, 60), seed=st.integers(0, 1000), ramp=st.booleans())
def test_log_pdf_is_the_mixture_of_truncated_normals(kinds: list[str], n: int, seed: int,
                                                      ramp: bool) -> None:
    weights = np.linspace(0.1, 1.0, n) if ramp else None
    axes, p = estimator([AXES[k] for k in kinds], n, seed, weights=weights)
    x = p.sample(np.random.default_rng(seed + 1), 50)
    got, want = p.log_pdf(x), reference_log_pdf(axes, p, x)
    # continuous axes are exact; a discrete value's mass is taken as density x width for
    # kernels at least 8 cells wide, which is within a few tenths of a percent
    assert np.allclose(got, want, atol=5e-3, rtol=0)


@settings(max_examples=20, deadline=None)
@given(kinds=st.lists(st.sampled_from(sorted(AXES)), min_size=1, max_size=4, unique=True),
       n=st.integers(0, 400), seed=st.integers(0, 1000))
def test_masses_at_the_floor_width_may_come_from_the_caller(kinds: list[str], n: int,
                                                           seed: int) -> None:
    axes, p = estimator([AXES[k] for k in kinds], n, seed)
    obs = np.empty((n, len(axes)))
    for i, a in enumerate(axes):
        obs[:, i] = p.mu[p.num.index(i), :n] if a.kind != CAT else p.cat_obs[p.cat.index(i)]
    log_z = np.zeros((len(p.num), n))
    for j, i in enumerate(p.num):
        log_z[j] = log_unit_mass(obs[:, i], floor_width(n))
    cached = Parzen(axes, obs, np.ones(n), prior_weight=1.0, consider_endpoints=False,
                    floor_log_z=log_z)
    x = p.sample(np.random.default_rng(seed + 1), 50)
    assert np.allclose(cached.log_pdf(x), p.log_pdf(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("width", [0.001, 0.02, 0.3])
def test_given_widths_are_the_kernels_widths(width: float) -> None:
    """As the constant liar builds its pending kernels: widths given, narrower or wider than
    the clip of bandwidths, no prior."""
    axes = [Axis.of(AXES["float"]), Axis.of(AXES["log"]), Axis.of(AXES["cat"])]
    rng = np.random.default_rng(7)
    obs = np.stack([rng.uniform(0, 1, 15), rng.uniform(0, 1, 15), rng.integers(0, 3, 15)], axis=1)
    p = Parzen(axes, obs, np.ones(15), prior_weight=0.0, consider_endpoints=False,
               sigmas=np.array([width, 2 * width]))
    assert np.all(p.sigma[0, :15] == width) and np.all(p.sigma[1, :15] == 2 * width)
    x = np.stack([a.from_unit(rng.uniform(0, 1, 40)) if a.kind != CAT else rng.integers(0, 3, 40)
                  for a in axes], axis=1).astype(float)
    x[:20] = p.sample(rng, 20)  # points near the kernels too
    with np.errstate(divide="ignore"):
        want = reference_log_pdf(axes, p, x)
    got = p.log_pdf(x)
    near = want > -600  # where the reference's own sum does not underflow
    assert near.sum() >= 20
    assert np.allclose(got[near], want[near], rtol=0, atol=1e-8)


@pytest.mark.parametrize("kind", sorted(AXES))
def test_samples_are_values_of_the_distribution(kind: str) -> None:
    axes, p = estimator([AXES[kind]], 30)
    x = p.sample(np.random.default_rng(1), 500)[:, 0]
    dist = AXES[kind]
    assert all(dist.contains(float(v)) for v in x)
    if axes[0].kind == DISC:
        assert len(np.unique(x)) > 1


def test_samples_follow_a_narrow_kernel() -> None:
    axis = Axis.of(FloatDistribution(0.0, 10.0))
    obs = np.full((200, 1), 0.3)  # 200 equal observations: kernels at the clipped minimum width
    p = Parzen([axis], obs, np.ones(200), prior_weight=1.0, consider_endpoints=False)
    x = p.sample(np.random.default_rng(0), 4000)[:, 0]
    near = np.abs(x - 3.0) < 0.4  # four sigmas (sigma = 10 / 100)
    assert near.mean() > 0.98


def test_bandwidths_are_optunas() -> None:
    mus = np.array([0.5, 0.1, 0.8])
    # sorted 0.1, 0.5, 0.8 with the edges 0 and 1: the larger gap to a neighbour, except
    # that the outermost ones ignore the edge (consider_endpoints=False)
    assert bandwidths(mus, False) == pytest.approx([0.4, 0.4, 0.3])
    assert bandwidths(mus, True) == pytest.approx([0.4, 0.4, 0.3])
    assert bandwidths(np.array([0.05, 0.06]), True) == pytest.approx([0.25, 0.94])
    assert bandwidths(np.array([0.05, 0.06]), False) == pytest.approx([0.25, 0.25])
    assert bandwidths(np.linspace(0, 1, 1000), False).min() == pytest.approx(0.01)


@settings(max_examples=200, deadline=None)
@given(a=st.floats(-40, 40), width=st.floats(1e-6, 80))
def test_log_gauss_mass_matches_scipy_in_both_tails(a: float, width: float) -> None:
    b = a + width
    want = stats.norm.logcdf(b) + np.log1p(-np.exp(stats.norm.logcdf(a) - stats.norm.logcdf(b))) \
        if b <= 0 else stats.norm.logsf(a) + np.log1p(-np.exp(stats.norm.logsf(b) - stats.norm.logsf(a)))
    got = float(log_gauss_mass(np.array([a]), np.array([b]))[0])
    assert got == pytest.approx(float(want), rel=1e-6, abs=1e-9)


def test_a_log_range_a_few_ulps_wide_is_modelled_on_a_linear_scale() -> None:
    dist = FloatDistribution(20293705.64382157, 20293705.643821575, log=True)
    axis = Axis.of(dist)
    assert axis.span > 0 and not axis.log
    p = Parzen([axis], axis.to_unit(np.array([[dist.low]])), np.ones(1), prior_weight=1.0,
               consider_endpoints=False)
    x = p.sample(np.random.default_rng(0), 20)
    assert np.all(np.isfinite(p.log_pdf(x))) and all(dist.contains(float(v)) for v in x[:, 0])


@settings(max_examples=200, deadline=None)
@given(rows=st.integers(0, 5), n=st.integers(0, 40), m=st.integers(0, 20),
       seed=st.integers(0, 10**6), levels=st.sampled_from([3, 0]))
def test_merged_rows_are_numpys_insert(rows: int, n: int, m: int, seed: int, levels: int) -> None:
    """Each row of new sorted values merged after the equal ones, and every moved array
    merged at the same places: what one ``np.insert`` at the searched places gives, to the
    bit, with ties (few levels), empty rows, more new values than the sliced copy takes,
    and a moved array of another dtype (values cast to it, as np.insert casts)."""
    rng = np.random.default_rng(seed)
    def draw(shape: tuple[int, int]) -> np.ndarray:
        return np.sort(rng.integers(0, levels, shape) / levels if levels else rng.random(shape), axis=1)
    old, new = draw((rows, n)), draw((rows, m))
    ids, new_ids = rng.integers(0, 10**9, (rows, n)), rng.random((rows, m)) * 1e3
    got = merge_rows(old, new, (ids, new_ids))
    at = np.array([np.searchsorted(old[r], new[r], side="right") + r * n
                   for r in range(rows)], dtype=np.int64).reshape(-1)
    want = [np.insert(a.ravel(), at, b.ravel()).reshape(rows, n + m)
            for a, b in ((old, new), (ids, new_ids))]
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.tolist() == w.tolist()
