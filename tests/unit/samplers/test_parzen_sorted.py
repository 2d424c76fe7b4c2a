"""SortedParzen: the one-axis mixture of Parzen, summed over windows of its sorted kernels,
gives Parzen's log density."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from tunefleet.core.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from tunefleet.samplers import parzen_sorted
from tunefleet.samplers.parzen import (
    Axis,
    Parzen,
    bandwidths,
    floor_width,
    log_unit_mass,
    sorted_bandwidths,
)
from tunefleet.samplers.parzen_sorted import SortedParzen, handles

DISTS = {
    "float": FloatDistribution(-5.0, 10.0),
    "log": FloatDistribution(1e-4, 1.0, log=True),
    "int-wide": IntDistribution(0, 100000, step=5),  # cells far narrower than the kernels
}


def both(kind: str, mu: np.ndarray, w: np.ndarray, prior_weight: float,
         window_from: int = 2048) -> tuple[Axis, Parzen, SortedParzen]:
    axis = Axis.of(DISTS[kind])
    mu = np.sort(axis.to_unit(axis.from_unit(mu)))  # on the grid of a discrete axis
    opts = {"prior_weight": prior_weight, "consider_endpoints": False}
    return (axis, Parzen([axis], mu[:, None], w, **opts),
            SortedParzen([axis], mu[None], np.arange(len(mu))[None], w, window_from=window_from,
                         **opts))


def points(axis: Axis, rng: np.random.Generator, m: int) -> np.ndarray:
    return axis.from_unit(rng.uniform(0.0, 1.0, m))[:, None]


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(sorted(DISTS)), n=st.integers(0, 3000), seed=st.integers(0, 10**6),
       clustered=st.booleans(), prior_weight=st.sampled_from([1.0, 0.3, 0.0]),
       window_from=st.sampled_from([0, 2048]))
def test_it_is_parzens_log_density(kind: str, n: int, seed: int, clustered: bool,
                                   prior_weight: float, window_from: int) -> None:
    rng = np.random.default_rng(seed)
    mu = rng.beta(2, 30, n) if clustered else rng.uniform(0, 1, n)
    w = np.linspace(1.0 / max(n, 1), 1.0, n)
    axis, full, windowed = both(kind, mu, w, prior_weight, window_from)
    x = np.concatenate([points(axis, rng, 24), full.sample(rng, 24)])
    assert np.allclose(windowed.log_pdf(x)[:, 0], full.log_pdf(x), rtol=0, atol=1e-9)
    # with the kernels' masses at the floor width given, as TPE keeps them from ask to ask
    mu_grid = full.mu[0, :n]
    cached = SortedParzen([axis], mu_grid[None], np.arange(n)[None], w,
                          prior_weight=prior_weight, consider_endpoints=False,
                          floor_log_z=log_unit_mass(mu_grid, floor_width(n))[None],
                          window_from=window_from)
    assert np.allclose(cached.log_pdf(x)[:, 0], full.log_pdf(x), rtol=0, atol=1e-9)


def test_at_ten_thousand_kernels_it_windows_and_agrees() -> None:
    rng = np.random.default_rng(3)
    axis, full, windowed = both("float", rng.uniform(0, 1, 10_000), np.ones(10_000), 1.0)
    assert 0.05 < windowed.reach < 0.15 and windowed.narrow.shape[1] > 9_000
    x = np.concatenate([points(axis, rng, 24), [[-5.0], [10.0]]])  # the edges too
    assert np.allclose(windowed.log_pdf(x)[:, 0], full.log_pdf(x), rtol=0, atol=1e-11)


def test_clustered_kernels_are_windowed_where_dense_and_summed_where_sparse() -> None:
    rng = np.random.default_rng(5)
    axis, full, windowed = both("log", rng.beta(2, 30, 3000), np.linspace(0.1, 1, 3000), 1.0,
                                window_from=0)
    assert 1500 < windowed.narrow.shape[1] < 3000 and 0 < windowed.wide.shape[1] < 1500
    x = np.concatenate([points(axis, rng, 24), full.sample(rng, 24)])
    assert np.allclose(windowed.log_pdf(x)[:, 0], full.log_pdf(x), rtol=0, atol=1e-11)


def test_a_point_far_from_every_kernel_without_a_prior() -> None:
    # no prior: nothing bounds the density from below, so nothing is windowed, and a point
    # where every term underflows is summed after its own max
    axis = Axis.of(DISTS["float"])
    mu = np.full(3000, 0.001)
    full = Parzen([axis], mu[:, None], np.ones(3000), prior_weight=0.0, consider_endpoints=False)
    sp = SortedParzen([axis], mu[None], np.arange(3000)[None], np.ones(3000), prior_weight=0.0,
                      consider_endpoints=False, window_from=0)
    x = np.array([[10.0], [-5.0]])
    assert sp.reach == np.inf
    assert np.allclose(sp.log_pdf(x)[:, 0], full.log_pdf(x), rtol=1e-12)
    assert sp.log_pdf(x)[:, 0][0] < -1e3


def test_it_handles_the_axes_whose_cells_are_narrower_than_every_kernel() -> None:
    assert handles(Axis.of(DISTS["float"]), 3) and handles(Axis.of(DISTS["int-wide"]), 10_000)
    few_cells = Axis.of(IntDistribution(1, 6))  # a value's exact mass matters: Parzen's job
    assert not handles(few_cells, 10_000) and not handles(few_cells, 0)
    assert not handles(Axis.of(CategoricalDistribution(("a", "b"))), 10)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 3000), seed=st.integers(0, 10**6), window_from=st.sampled_from([0, 2048]))
def test_each_row_is_its_own_mixture_over_the_shared_weights(n: int, seed: int,
                                                             window_from: int) -> None:
    """Rows of different axes and positions, the same weights in each row's own order (as
    TPE's params share their trials): row d is Parzen's mixture of row d, and draws from it
    the very points Parzen draws from the same stream."""
    rng = np.random.default_rng(seed)
    kinds = ["float", "log", "int-wide", "float"]
    w = rng.uniform(0.1, 1.0, n)
    axes, mus, orders, fulls = [], [], [], []
    for d, kind in enumerate(kinds):
        axis = Axis.of(DISTS[kind])
        raw = rng.beta(2, 30, n) if d % 2 else rng.uniform(0, 1, n)
        raw = axis.to_unit(axis.from_unit(raw))
        order = np.argsort(raw, kind="stable")
        axes.append(axis)
        mus.append(raw[order])
        orders.append(order)
        fulls.append(Parzen([axis], raw[:, None], w, prior_weight=1.0, consider_endpoints=False))
    rows = SortedParzen(axes, np.array(mus).reshape(4, n), np.array(orders).reshape(4, n), w,
                        prior_weight=1.0, consider_endpoints=False, window_from=window_from)
    x = np.stack([a.from_unit(rng.uniform(0, 1, 30)) for a in axes], axis=1)
    got = rows.log_pdf(x)
    for d in range(4):
        assert np.allclose(got[:, d], fulls[d].log_pdf(x[:, [d]]), rtol=0, atol=1e-9)
    drawn = rows.sample([np.random.default_rng([seed, d]) for d in range(4)], 24)
    for d in range(4):
        want = fulls[d].sample(np.random.default_rng([seed, d]), 24)[:, 0]
        assert drawn[:, d].tolist() == want.tolist()


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(sorted(DISTS)), n=st.integers(0, 6000), seed=st.integers(0, 10**6),
       clustered=st.booleans(), prior_weight=st.sampled_from([1.0, 0.3, 0.0]),
       sigmas=st.sampled_from([2.0, 4.0]))
def test_bounds_bracket_the_log_density(kind: str, n: int, seed: int, clustered: bool,
                                        prior_weight: float, sigmas: float) -> None:
    """``log_pdf_bounds`` from the nearest kernels hold ``log_pdf`` between them, at points
    in dense and empty stretches; None where there is no window to narrow."""
    rng = np.random.default_rng(seed)
    mu = rng.beta(2, 30, n) if clustered else rng.uniform(0, 1, n)
    w = np.linspace(1.0 / max(n, 1), 1.0, n)
    axis, full, windowed = both(kind, mu, w, prior_weight, window_from=0)
    x = np.concatenate([points(axis, rng, 24), full.sample(rng, 24)])
    bounds = windowed.log_pdf_bounds(x, sigmas)
    if bounds is None:
        assert not windowed.reach > 1.5 * sigmas * windowed.floor or windowed.narrow.shape[1] == 0
        return
    exact = windowed.log_pdf(x)
    lo, hi = bounds
    assert np.all(lo <= exact + 1e-12) and np.all(exact <= hi + 1e-12)
    assert np.all(hi - lo >= 0)


def test_bounds_at_thousands_of_kernels_are_tight() -> None:
    """What ``TPESampler`` relies on them for: at 5,000 kernels, a few hundredths of a unit
    of log density apart, so that few candidates need their exact g."""
    rng = np.random.default_rng(3)
    n = 5000
    axis, full, windowed = both("float", rng.uniform(0, 1, n), np.ones(n), 1.0, window_from=0)
    bounds = windowed.log_pdf_bounds(points(axis, rng, 200))
    assert bounds is not None
    assert float(np.max(bounds[1] - bounds[0])) < 0.08


def test_bounds_hold_with_weights_far_apart() -> None:
    """Kernels whose weights span e^150, so that single precision would underflow on many
    of them: the bounds still hold ``log_pdf`` between them."""
    rng = np.random.default_rng(4)
    n = 5000
    w = np.exp(np.linspace(0.0, -150.0, n))[rng.permutation(n)]
    axis, full, windowed = both("float", rng.uniform(0, 1, n), w, 1e-60, window_from=0)
    x = points(axis, rng, 200)
    bounds = windowed.log_pdf_bounds(x)
    assert bounds is not None
    exact = windowed.log_pdf(x)
    assert np.all(bounds[0] <= exact + 1e-12) and np.all(exact <= bounds[1] + 1e-12)


def _optuna_sigmas(mus: list[float], consider_endpoints: bool) -> list[float]:
    """Optuna's bandwidths on [0, 1], written out point by point."""
    n = len(mus)
    s = [0.0] + sorted(mus) + [1.0]
    out = []
    for mu in mus:
        i = s.index(mu, 1)  # (distinct positions)
        sig = max(s[i] - s[i - 1], s[i + 1] - s[i])
        if not consider_endpoints and n >= 2 and i in (1, n):
            sig = s[2] - s[1] if i == 1 else s[n] - s[n - 1]
        out.append(min(max(sig, 1.0 / min(100.0, n + 2.0)), 1.0))
    return out


@pytest.mark.parametrize("n", [0, 1, 2, 3, 50, 300])
def test_bandwidths_of_every_row_are_optunas(n: int) -> None:
    """Rows in any order, with or without an order given, and sorted rows alike."""
    mus = np.random.default_rng(n).uniform(0, 1, (3, n))
    for ends in (False, True):
        want = np.array([_optuna_sigmas(list(row), ends) for row in mus]).reshape(3, n)
        assert np.allclose(bandwidths(mus, ends), want, rtol=0, atol=1e-15)
        order = np.argsort(mus, axis=1)
        assert np.allclose(bandwidths(mus, ends, order), want, rtol=0, atol=1e-15)
        got = sorted_bandwidths(np.take_along_axis(mus, order, axis=1), ends)
        assert np.allclose(got, np.take_along_axis(want, order, axis=1), rtol=0, atol=1e-15)


def test_without_a_prior_kernels_far_from_zero_do_not_overflow() -> None:
    """The exponents are shifted by the largest kernel peak, not by a coefficient: with no
    prior and every kernel far from 0, nothing to lean on below either."""
    rng = np.random.default_rng(11)
    axis = Axis.of(DISTS["float"])
    mu = np.sort(rng.uniform(0.6, 1.0, 500))
    sp = SortedParzen([axis], mu[None], np.arange(500)[None], np.ones(500), prior_weight=0.0,
                      consider_endpoints=False, window_from=0)
    x = axis.from_unit(rng.uniform(0.55, 1.0, 30))[:, None]
    sig = bandwidths(mu, False)
    t = axis.to_unit(x[:, 0])[:, None]
    z = stats.norm.cdf((1 - mu) / sig) - stats.norm.cdf(-mu / sig)
    want = np.log((stats.norm.pdf((t - mu) / sig) / (sig * z)).sum(axis=1) / 500)
    assert np.allclose(sp.log_pdf(x)[:, 0], want, rtol=0, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 400), size=st.integers(1, 40), seed=st.integers(0, 10**6),
       rows=st.integers(1, 5), prior_weight=st.sampled_from([1.0, 0.0]))
def test_draws_leave_each_stream_where_parzen_leaves_it(n: int, size: int, seed: int, rows: int,
                                                        prior_weight: float) -> None:
    """Each row's draws are Parzen's from the same stream (the kernels picked from one cdf
    for every row, as ``Generator.choice`` picks them), and the stream is left where
    Parzen.sample leaves it: TPE draws the elite candidates from it next."""
    rng = np.random.default_rng(seed)
    axis = Axis.of(DISTS["float"])
    w = rng.uniform(0.0, 1.0, n)
    if n:
        w[rng.random(n) < 0.2] = 0.0  # kernels never picked
    raw = rng.uniform(0, 1, (rows, n))
    order = np.argsort(raw, axis=1, kind="stable")
    sp = SortedParzen([axis] * rows, np.take_along_axis(raw, order, axis=1), order, w,
                      prior_weight=prior_weight if w.sum() > 0 else 1.0, consider_endpoints=False)
    streams = [np.random.default_rng([seed, d]) for d in range(rows)]
    drawn = sp.sample(streams, size)
    for d in range(rows):
        full = Parzen([axis], raw[d][:, None], w, prior_weight=sp.prior_weight,
                      consider_endpoints=False)
        mine = np.random.default_rng([seed, d])
        assert drawn[:, d].tolist() == full.sample(mine, size)[:, 0].tolist()
        assert streams[d].random() == mine.random()


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2000, 6000), seed=st.integers(0, 10**6), rows=st.integers(1, 6),
       chunk=st.sampled_from([1 << 10, 1 << 18]), clustered=st.booleans())
def test_bounds_window_is_the_plain_sum_of_its_terms(n: int, seed: int, rows: int, chunk: int,
                                                     clustered: bool) -> None:
    """The single-precision window of ``log_pdf_bounds`` (terms a (t - mu)^2 + p in float32,
    rows in chunks) is, within _SINGLE, no less than the kernels' terms within its
    reach summed plainly in double precision and no more than all of them, on several
    rows; and the bounds hold ``log_pdf`` between them."""
    rng = np.random.default_rng(seed)
    axis = Axis.of(DISTS["float"])
    raw = rng.beta(2, 30, (rows, n)) if clustered else rng.uniform(0, 1, (rows, n))
    order = np.argsort(raw, axis=1, kind="stable")
    sp = SortedParzen([axis] * rows, np.take_along_axis(raw, order, axis=1), order,
                      rng.uniform(0.1, 1.0, n), prior_weight=1.0, consider_endpoints=False,
                      window_from=0)
    t = rng.uniform(0, 1, (rows, 24))
    inner = 4.0 * sp.floor
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(parzen_sorted, "_CHUNK", chunk)
        near, _ = sp._narrow_sum32(t, inner)
        bounds = sp.log_pdf_bounds(np.stack([axis.from_unit(r) for r in t], axis=1))
    for d in range(rows):
        mu, (b, c) = sp.narrow_mu[d], sp.narrow[d].T
        for j in range(t.shape[1]):
            x = float(t[d, j])
            terms = np.exp(np.maximum(b * x + c + sp.a * x * x, parzen_sorted._FLOOR32))
            inside = terms[np.abs(mu - x) <= inner].sum()  # (the window may hold more)
            assert (1 - parzen_sorted._SINGLE) * inside <= near[d, j]
            assert near[d, j] <= (1 + parzen_sorted._SINGLE) * terms.sum()
    assert bounds is not None
    exact = sp.log_pdf(np.stack([axis.from_unit(r) for r in t], axis=1))
    assert np.all(bounds[0] <= exact + 1e-12) and np.all(exact <= bounds[1] + 1e-12)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 10**6), rows=st.integers(1, 4), n=st.integers(0, 30),
       log_prior=st.sampled_from([-np.inf, -3.0, 50.0]))
def test_shift_is_the_largest_finite_peak(seed: int, rows: int, n: int, log_prior: float) -> None:
    """Per row, the largest finite log peak or the prior's, 0 where there is none; peaks of
    -inf (weights of 0), NaN and +inf are passed over, whichever way the max is found."""
    rng = np.random.default_rng(seed)
    peak = rng.normal(0.0, 10.0, (rows, n))
    peak[rng.random((rows, n)) < 0.3] = rng.choice([-np.inf, np.inf, np.nan])
    sp = SortedParzen.__new__(SortedParzen)
    sp.log_prior = log_prior
    sp._set_shift(peak)
    want = np.where(np.isfinite(peak), peak, -np.inf).max(axis=1, initial=-np.inf)
    want = np.maximum(want, log_prior)
    want[~np.isfinite(want)] = 0.0
    assert sp.shift[:, 0].tolist() == want.tolist()


@settings(max_examples=200, deadline=None)
@given(rows=st.integers(1, 3), n=st.integers(0, 60), seed=st.integers(0, 10**6),
       consider_endpoints=st.booleans(), spread=st.sampled_from([0.3, 1.0, 3.0]))
def test_all_at_floor_is_every_bandwidth_at_most_the_floor(rows: int, n: int, seed: int,
                                                          consider_endpoints: bool,
                                                          spread: float) -> None:
    """The gaps alone say whether every kernel is at the floor as ``sorted_bandwidths``
    has it (gaps about the floor, some exactly at it, rows near and far from the edges);
    the widths are made when asked for, the same as ``sorted_bandwidths``."""
    rng = np.random.default_rng(seed)
    floor = floor_width(n)
    steps = rng.uniform(0.0, spread * floor, (rows, n))
    steps[rng.random((rows, n)) < 0.2] = floor  # exactly at it
    mu = np.clip(rng.uniform(0.0, 2 * floor, (rows, 1)) + np.cumsum(steps, axis=1), 0.0, 1.0)
    at_most = floor * (1.0 + 1e-12)
    want = n >= 2 and bool(np.all(sorted_bandwidths(mu, consider_endpoints) <= at_most))
    assert parzen_sorted._all_at_floor(mu, at_most, consider_endpoints) == want
    axis = Axis.of(DISTS["float"])
    sp = SortedParzen([axis] * rows, mu, np.tile(np.arange(n), (rows, 1)), np.ones(n),
                      prior_weight=1.0, consider_endpoints=consider_endpoints, window_from=0)
    assert sp.sigma.tolist() == sorted_bandwidths(mu, consider_endpoints).tolist()


def test_a_gap_of_exactly_the_limit_is_at_the_floor() -> None:
    """Gaps of exactly the limit (0 to it, the limit to 1) count as at the floor."""
    at_most = floor_width(2) * (1.0 + 1e-12)
    for mu in (np.array([[0.0, at_most]]), np.array([[1.0 - at_most, 1.0]]),
               np.array([[0.5, 0.5 + at_most]])):
        for ends in (False, True):
            want = bool(np.all(sorted_bandwidths(mu, ends) <= at_most))
            assert parzen_sorted._all_at_floor(mu, at_most, ends) == want
    assert parzen_sorted._all_at_floor(np.array([[0.0, at_most]]), at_most, False)
