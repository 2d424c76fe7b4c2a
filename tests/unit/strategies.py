"""Hypothesis strategies of distributions, and what a sampled value must be, shared by the
tests of distributions and samplers."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tunefleet.core.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    check_value,
)


@st.composite
def float_dists(draw: st.DrawFn) -> FloatDistribution:
    kind = draw(st.sampled_from(["plain", "log", "step"]))
    if kind == "log":
        low = draw(st.floats(1e-8, 1e8))
        return FloatDistribution(low, draw(st.floats(low, 1e9)), log=True)
    low = draw(st.floats(-1e9, 1e9))
    high = draw(st.floats(low, low + 1e9))
    step = draw(st.floats(1e-4, 1e4)) if kind == "step" else None
    return FloatDistribution(low, high, step=step)


@st.composite
def int_dists(draw: st.DrawFn) -> IntDistribution:
    if draw(st.booleans()):
        low = draw(st.integers(1, 2**30))
        return IntDistribution(low, draw(st.integers(low, 2**31)), log=True)
    low = draw(st.integers(-(2**40), 2**40))
    high = draw(st.integers(low, low + draw(st.sampled_from([5, 300, 2**40]))))
    return IntDistribution(low, high, step=draw(st.integers(1, 1000)))


choice_dists = st.lists(
    st.one_of(st.text(max_size=4), st.integers(), st.floats(), st.booleans(), st.none()),
    min_size=1,
    max_size=6,
).map(lambda cs: CategoricalDistribution(tuple(cs)))

distributions = st.one_of(float_dists(), int_dists(), choice_dists)


def assert_fits(name: str, dist: Distribution, value: Any) -> None:
    """``value`` is one a tell accepts for ``dist`` (type, range, step, choice), of the
    distribution's own type."""
    check_value(name, dist, value)
    if isinstance(dist, IntDistribution):
        assert type(value) is int
    elif isinstance(dist, FloatDistribution):
        assert type(value) is float
    else:
        assert any(type(value) is type(c) and (value == c or value != value) for c in dist.choices)
