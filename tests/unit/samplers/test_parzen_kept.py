"""KeptMixture: g kept from ask to ask is Parzen's mixture over the same kernels."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tunefleet.core.distributions import FloatDistribution
from tunefleet.samplers.parzen import Axis, Parzen, floor_width
from tunefleet.samplers.parzen_kept import KeptMixture


@settings(max_examples=40, deadline=None)
@given(d=st.integers(1, 4), steps=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 6)),
                                          min_size=1, max_size=6),
       seed=st.integers(0, 10**6), ends=st.booleans(), prior_weight=st.sampled_from([1.0, 0.2, 0.0]))
def test_each_fit_is_parzens_mixture_of_its_kernels(d: int, steps: list[tuple[int, int]], seed: int,
                                                    ends: bool, prior_weight: float) -> None:
    """Fits one after another as asks make them: more finished trials (the floor moving
    below 98), members joining and leaving at random, ties, trials running; each fit's
    log density is that of a Parzen over the members then the running trials."""
    rng = np.random.default_rng(seed)
    axes = [Axis.of(FloatDistribution(0.0, 1.0))] * d
    units = np.zeros((0, d))
    kept = KeptMixture(d, ends)
    for grow, n_run in steps:
        new = rng.uniform(0, 1, (grow, d))
        new[rng.random(new.shape) < 0.05] = 0.5  # ties
        units = np.concatenate([units, new])
        n = len(units)
        members = np.flatnonzero(rng.random(n) < 0.8)  # in trial-number order
        order = np.argsort(units, axis=0, kind="stable").T
        run_pos = rng.uniform(0, 1, (n_run, d))
        weights = rng.uniform(0.1, 1.0, len(members) + n_run)
        floor = floor_width(len(members) + n_run)
        kept.fit(units, order, members, weights, run_pos, prior_weight, floor)
        obs = np.concatenate([units[members], run_pos])
        full = Parzen(axes, obs, weights, prior_weight=prior_weight, consider_endpoints=ends)
        x = np.concatenate([rng.uniform(0, 1, (20, d)), full.sample(rng, 20)])
        assert np.allclose(kept.log_pdf(x), full.log_pdf(x), rtol=0, atol=1e-9)


def test_only_the_kernels_whose_widths_moved_are_made_again() -> None:
    """A new trial changes the rows of its neighbours on each axis, not the others': 99
    trials evenly spread, gaps just above the floor, so every gap sets a width."""
    rng = np.random.default_rng(1)
    n = 99
    units = np.stack([rng.permutation(np.linspace(0, 1, n)) for _ in range(2)], axis=1)
    kept = KeptMixture(2, False)

    def fit(units: np.ndarray) -> None:
        order = np.argsort(units, axis=0, kind="stable").T
        members = np.arange(len(units))
        kept.fit(units, order, members, np.ones(len(units)), np.zeros((0, 2)), 1.0, 0.01)

    fit(units)
    before = kept._coef[:n, :4].copy()
    fit(np.concatenate([units, [[0.505, 0.505]]]))
    moved = np.flatnonzero((kept._coef[:n, :4] != before).any(axis=1))
    neighbours = {int(np.argsort(np.abs(units[:, a] - 0.505))[j]) for a in range(2) for j in range(2)}
    assert moved.size and set(moved.tolist()) <= neighbours
    assert np.isfinite(kept._sig[n]).all()  # the new trial's own row is made
