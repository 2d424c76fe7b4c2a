"""RandomSampler: values inside their distributions, reproducible by (seed, trial, name)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Collection

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.strategies import assert_fits, choice_dists, float_dists, int_dists
from tunefleet.core.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
)
from tunefleet.core.history import StudyView
from tunefleet.core.settings import Direction
from tunefleet.core.trial import TrialRecord, TrialState
from tunefleet.samplers import RandomSampler

VIEW = StudyView((Direction.MINIMIZE,))


def sample(dist: Distribution, number: int = 0, name: str = "p", seed: int = 0) -> object:
    trial = TrialRecord(number=number, state=TrialState.RUNNING)
    return RandomSampler(seed=seed).sample_independent(VIEW, trial, name, dist)


choices = choice_dists


@settings(max_examples=150, deadline=None)
@given(
    dist=st.one_of(float_dists(), int_dists(), choices),
    number=st.integers(0, 10**6),
    name=st.text(min_size=1, max_size=10),
    seed=st.integers(-(2**40), 2**40),
)
def test_values_are_inside_their_distribution(dist, number, name, seed) -> None:
    assert_fits(name, dist, sample(dist, number, name, seed))


@pytest.mark.parametrize(
    "dist",
    [
        FloatDistribution(-3.0, 5.0),
        FloatDistribution(1e-5, 1.0, log=True),
        FloatDistribution(0.0, 1.0, step=0.125),
        IntDistribution(-10, 10, step=3),
        IntDistribution(1, 1024, log=True),
        CategoricalDistribution(("a", 1, 2.5, True, None)),
    ],
)
def test_same_seed_trial_and_name_give_the_same_value(dist: Distribution) -> None:
    assert sample(dist, 17, "lr", 3) == sample(dist, 17, "lr", 3)
    # ... whichever sampler object asks, and whatever it sampled before
    sampler = RandomSampler(seed=3)
    trial = TrialRecord(number=17, state=TrialState.RUNNING)
    for other in range(5):
        sampler.sample_independent(VIEW, TrialRecord(number=other, state=TrialState.RUNNING),
                                   "lr", dist)
    assert sampler.sample_independent(VIEW, trial, "lr", dist) == sample(dist, 17, "lr", 3)


def test_different_trials_names_and_seeds_give_different_values() -> None:
    x = FloatDistribution(0.0, 1.0)
    by_trial = [sample(x, n) for n in range(50)]
    assert len(set(by_trial)) == 50
    assert len({sample(x, 0, name) for name in ("a", "b", "c", "lr", "momentum")}) == 5
    assert len({sample(x, 0, "p", seed) for seed in range(20)}) == 20


def test_a_float_range_is_covered_uniformly() -> None:
    values = [sample(FloatDistribution(-3.0, 5.0), n) for n in range(2000)]
    assert min(values) < -2.9 and max(values) > 4.9
    assert abs(statistics.mean(values) - 1.0) < 0.2


def test_log_scales_are_sampled_on_the_log_scale() -> None:
    floats = [sample(FloatDistribution(1e-3, 1e3, log=True), n) for n in range(2000)]
    below_one = sum(v < 1.0 for v in floats) / len(floats)
    assert 0.45 < below_one < 0.55  # uniform on a linear scale would give 0.001
    assert abs(statistics.mean(math.log10(v) for v in floats)) < 0.2
    ints = [sample(IntDistribution(1, 1000, log=True), n) for n in range(2000)]
    assert 0.4 < sum(v <= 31 for v in ints) / len(ints) < 0.6
    assert min(ints) == 1 and max(ints) > 900


@pytest.mark.parametrize(
    ("dist", "expected"),
    [
        (FloatDistribution(0.0, 1.0, step=0.25), {0.0, 0.25, 0.5, 0.75, 1.0}),
        (FloatDistribution(0.0, 1.0, step=0.3), {0.0, 0.3, 0.6, 0.9}),
        (IntDistribution(0, 10, step=5), {0, 5, 10}),
        (IntDistribution(-3, 4, step=3), {-3, 0, 3}),
        (IntDistribution(1, 4, log=True), {1, 2, 3, 4}),
        (IntDistribution(7, 7), {7}),
        (CategoricalDistribution(("a", None, False, 0)), ("a", None, False, 0)),
    ],
)
def test_every_step_and_choice_is_reached_and_nothing_else(
    dist: Distribution, expected: Collection[object]
) -> None:
    def key(v: object) -> tuple[type, object]:  # False and 0 differ; 0.6 and 0.6000000001 not
        return type(v), round(v, 9) if isinstance(v, float) else v

    seen = {key(sample(dist, n)) for n in range(400)}
    assert seen == {key(v) for v in expected}


def test_the_hashed_uniform_is_uniform_and_independent_across_trials_names_and_seeds() -> None:
    import numpy as np
    from scipy import stats

    from tunefleet.samplers.base import uniform

    pooled = np.array([uniform(s, n, "x") for s in range(10) for n in range(10_000)])
    assert pooled.min() >= 0.0 and pooled.max() < 1.0
    assert stats.kstest(pooled, "uniform").pvalue > 1e-3
    by_trial = np.array([uniform(7, n, "x") for n in range(20_000)])
    assert stats.chisquare(np.histogram(by_trial, bins=50)[0]).pvalue > 1e-3
    other_name = np.array([uniform(7, n, "y") for n in range(20_000)])
    other_seed = np.array([uniform(8, n, "x") for n in range(20_000)])
    for other in (other_name, other_seed):
        assert abs(np.corrcoef(by_trial, other)[0, 1]) < 0.03
        assert stats.chisquare(np.histogram(other, bins=50)[0]).pvalue > 1e-3
    # neighbouring trials are not correlated either (a lag-1 test)
    assert abs(np.corrcoef(by_trial[:-1], by_trial[1:])[0, 1]) < 0.03
    assert uniform(7, 3, "x") == uniform(7, 3, "x")
    assert len({uniform(s, n, "x") for s in range(30) for n in range(30)}) == 900
