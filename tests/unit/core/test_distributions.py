"""Distributions: Optuna's validation and semantics, internal/external forms, the dict form."""

from __future__ import annotations

import math

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.strategies import float_dists, int_dists
from tunefleet.core.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    check_value,
    from_dict,
    to_dict,
)
from tunefleet.errors import InvalidValue

FAST = settings(max_examples=150, deadline=None)

# ---- strategies ---------------------------------------------------------------------------
choice_values = st.one_of(
    st.text(max_size=5),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)


categorical_dists = st.lists(choice_values, min_size=1, max_size=6).map(
    lambda cs: CategoricalDistribution(tuple(cs))
)
dists = st.one_of(float_dists(), int_dists(), categorical_dists)


def same(a: object, b: object) -> bool:
    """Equal and of one type, NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


# ---- validation ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: FloatDistribution(1.0, 0.0), "low must be <= high"),
        (lambda: FloatDistribution(0.0, 1.0, log=True), "log=True needs low > 0"),
        (lambda: FloatDistribution(-1.0, 1.0, log=True), "log=True needs low > 0"),
        (lambda: FloatDistribution(0.1, 1.0, log=True, step=0.1), "both log=True and a step"),
        (lambda: FloatDistribution(0.0, 1.0, step=0.0), "step must be a positive number"),
        (lambda: FloatDistribution(0.0, 1.0, step=-0.5), "step must be a positive number"),
        (lambda: FloatDistribution(0.0, 1.0, step=math.nan), "step must be a positive number"),
        (lambda: FloatDistribution(0.0, 1.0, step=math.inf), "step must be a positive number"),
        (lambda: FloatDistribution(-math.inf, 1.0), "low must be a finite number"),
        (lambda: FloatDistribution(0.0, math.nan), "high must be a finite number"),
        (lambda: IntDistribution(5, 1), "low must be <= high"),
        (lambda: IntDistribution(0, 10, log=True), "log=True needs low >= 1"),
        (lambda: IntDistribution(1, 10, log=True, step=2), "log=True must have step=1"),
        (lambda: IntDistribution(0, 10, step=0), "step must be >= 1"),
        (lambda: IntDistribution(0, 10, step=-2), "step must be >= 1"),
        (lambda: IntDistribution(0.5, 10), "must be an int"),
        (lambda: IntDistribution(True, 10), "must be an int"),
        (lambda: IntDistribution(0, 10, step=1.5), "must be an int"),
        (lambda: CategoricalDistribution(()), "at least one choice"),
        (lambda: CategoricalDistribution(([1, 2],)), "is a list"),
        (lambda: CategoricalDistribution((object(),)), "is a object"),
    ],
)
def test_bad_distributions_are_refused_with_a_reason(make, match) -> None:
    with pytest.raises(InvalidValue, match=match) as info:
        make()
    assert isinstance(info.value, ValueError)  # as Optuna raises


def test_int_bounds_given_as_integral_floats_become_ints() -> None:
    d = IntDistribution(1.0, 5.0, step=2.0)
    assert (d.low, d.high, d.step) == (1, 5, 2)
    assert all(type(x) is int for x in (d.low, d.high, d.step))


@pytest.mark.parametrize(
    ("low", "high", "step", "expected_high"),
    [
        (0.0, 1.0, 0.3, 0.9),
        (0.0, 0.3, 0.1, 0.3),  # already on the grid: not moved by float noise
        (0.1, 1.0, 0.1, 1.0),
        (0.0, 1.0, 0.25, 1.0),
        (-1.0, 1.0, 0.7, 0.4),
        (0.0, 0.05, 0.1, 0.0),
        (2.0, 2.0, 0.5, 2.0),
        (1.0, 10.0, 4.0, 9.0),
    ],
)
def test_float_step_moves_high_down_to_the_last_step_that_fits(
    low, high, step, expected_high
) -> None:
    d = FloatDistribution(low, high, step=step)
    assert d.high == expected_high
    assert d.contains(d.high)


@FAST
@given(
    low=st.floats(-1e9, 1e9),
    width=st.floats(0, 1e9),
    step=st.floats(1e-4, 1e4),
)
def test_float_step_high_is_on_the_grid_within_range_and_stable(low, width, step) -> None:
    high = low + width
    d = FloatDistribution(low, high, step=step)
    assert d.low <= d.high <= high
    assert high - d.high < step * (1 + 1e-9) + 1e-6 * abs(high)
    assert d.contains(d.high)
    assert FloatDistribution(d.low, d.high, step=step) == d  # rebuilding changes nothing


@pytest.mark.parametrize(
    ("low", "high", "step", "expected_high"),
    [(0, 10, 3, 9), (1, 10, 3, 10), (0, 0, 5, 0), (-5, 5, 4, 3), (2, 3, 2, 2), (0, 10, 1, 10)],
)
def test_int_step_moves_high_down_to_the_last_step_that_fits(
    low, high, step, expected_high
) -> None:
    assert IntDistribution(low, high, step=step).high == expected_high


@pytest.mark.parametrize(
    ("dist", "internal", "inside"),
    [
        (FloatDistribution(0.0, 1.0), 0.0, True),
        (FloatDistribution(0.0, 1.0), 1.0, True),
        (FloatDistribution(0.0, 1.0), 1.0000001, False),
        (FloatDistribution(0.0, 1.0), -0.1, False),
        (FloatDistribution(0.0, 1.0), math.nan, False),
        (FloatDistribution(0.0, 1.0), math.inf, False),
        (FloatDistribution(0.0, 1.0, step=0.25), 0.75, True),
        (FloatDistribution(0.0, 1.0, step=0.25), 0.7, False),
        (FloatDistribution(0.0, 1.0, step=0.1), 0.30000000000000004, True),
        (FloatDistribution(1e-3, 1e3, log=True), 1e-4, False),
        (FloatDistribution(1e-3, 1e3, log=True), 5.0, True),
        (IntDistribution(0, 10, step=2), 4.0, True),
        (IntDistribution(0, 10, step=2), 5.0, False),
        (IntDistribution(0, 10), 2.5, False),
        (IntDistribution(0, 10), 11.0, False),
        (IntDistribution(0, 10), math.nan, False),
        (CategoricalDistribution(("a", "b")), 1.0, True),
        (CategoricalDistribution(("a", "b")), 2.0, False),
        (CategoricalDistribution(("a", "b")), 0.5, False),
        (CategoricalDistribution(("a", "b")), -1.0, False),
        (CategoricalDistribution(("a", "b")), math.nan, False),
        (CategoricalDistribution(("a", "b")), math.inf, False),
    ],
)
def test_contains(dist, internal, inside) -> None:
    assert dist.contains(internal) is inside


@pytest.mark.parametrize(
    ("choices", "value", "index"),
    [
        ((1, True), True, 1),
        ((1, True), 1, 0),
        ((True, 1), 1, 1),
        ((0, False, 0.0, None, "0"), False, 1),
        ((0, False, 0.0, None, "0"), 0.0, 2),
        ((0, False, 0.0, None, "0"), None, 3),
        ((0, False, 0.0, None, "0"), "0", 4),
        ((0, False, 0.0, None, "0"), 0, 0),
        ((1.5, math.nan), math.nan, 1),
        (("a", "b", "a"), "a", 0),
    ],
)
def test_categorical_matches_a_choice_of_its_own_type(choices, value, index) -> None:
    d = CategoricalDistribution(choices)
    assert d.to_internal(value) == index
    assert same(d.to_external(index), value)


@pytest.mark.parametrize(
    ("choices", "value"),
    [((1,), 1.0), ((1,), True), ((0,), False), (("1",), 1), ((None,), 0), (("a",), "b")],
)
def test_categorical_refuses_values_that_are_not_choices(choices, value) -> None:
    with pytest.raises(InvalidValue, match="not one of the choices"):
        CategoricalDistribution(choices).to_internal(value)


@FAST
@given(st.data())
def test_every_choice_round_trips_through_its_internal_form(data) -> None:
    d = data.draw(categorical_dists)
    choice = data.draw(st.sampled_from(d.choices))
    i = d.to_internal(choice)
    assert d.contains(i)
    assert same(d.to_external(i), choice)


@FAST
@given(st.data())
def test_numbers_round_trip_through_their_internal_form(data) -> None:
    d = data.draw(st.one_of(float_dists(), int_dists()))
    if isinstance(d, IntDistribution):
        k = data.draw(st.integers(0, (d.high - d.low) // d.step))
        value: float = d.low + k * d.step
    else:
        value = data.draw(st.floats(d.low, d.high))
        if d.step is not None:
            value = d.low  # the one point of a stepped range a float strategy surely hits
    internal = d.to_internal(value)
    assert d.contains(internal)
    assert d.to_external(internal) == value
    assert type(d.to_external(internal)) is type(value)


@pytest.mark.parametrize(
    ("dist", "value"),
    [
        (FloatDistribution(0.0, 1.0), "0.5"),
        (FloatDistribution(0.0, 1.0), True),
        (FloatDistribution(0.0, 1.0), None),
        (IntDistribution(0, 10), 2.5),
        (IntDistribution(0, 10), False),
        (IntDistribution(0, 10), "3"),
    ],
)
def test_numbers_refuse_values_of_the_wrong_type(dist, value) -> None:
    with pytest.raises(InvalidValue, match="is not a"):
        dist.to_internal(value)


# ---- the dict form -------------------------------------------------------------------------
@FAST
@given(dists)
def test_to_dict_from_dict_round_trip(d) -> None:
    back = from_dict(to_dict(d))
    assert back == d
    assert type(back) is type(d)


@FAST
@given(st.one_of(float_dists(), int_dists(), categorical_dists))
def test_the_dict_form_survives_msgpack(d) -> None:
    """What the journal and the wire do to it; NaN choices compare by value here."""
    back = from_dict(msgpack.unpackb(msgpack.packb(to_dict(d)), raw=False))
    if isinstance(d, CategoricalDistribution):
        assert len(back.choices) == len(d.choices)
        assert all(same(a, b) for a, b in zip(back.choices, d.choices, strict=True))
    else:
        assert back == d


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"type": "uniform", "low": 0, "high": 1}, "unknown distribution type 'uniform'"),
        ({"low": 0, "high": 1}, "unknown distribution type None"),
        ({"type": "float", "high": 1.0}, "needs the key 'low'"),
        ({"type": "int", "low": 1}, "needs the key 'high'"),
        ({"type": "categorical"}, "needs the key 'choices'"),
        ({"type": "float", "low": "a", "high": 1.0}, "bad float distribution"),
        ({"type": "float", "low": 2.0, "high": 1.0}, "low must be <= high"),
        ({"type": "int", "low": 1, "high": 5, "step": None}, "must be an int"),
        ({"type": "categorical", "choices": []}, "at least one choice"),
    ],
)
def test_from_dict_refuses_what_to_dict_cannot_give(data, match) -> None:
    with pytest.raises(InvalidValue, match=match):
        from_dict(data)


def test_from_dict_fills_in_optuna_defaults() -> None:
    assert from_dict({"type": "float", "low": 0, "high": 1}) == FloatDistribution(0.0, 1.0)
    assert from_dict({"type": "int", "low": 0, "high": 4}) == IntDistribution(0, 4, step=1)


# ---- check_value ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("dist", "value", "internal"),
    [
        (FloatDistribution(0.0, 1.0), 0.5, 0.5),
        (FloatDistribution(0.0, 1.0), 1, 1.0),
        (FloatDistribution(0.0, 1.0, step=0.5), 0.5, 0.5),
        (IntDistribution(0, 10, step=5), 10, 10.0),
        (CategoricalDistribution(("a", None)), None, 1.0),
    ],
)
def test_check_value_gives_the_internal_form(dist, value, internal) -> None:
    assert check_value("p", dist, value) == internal


@pytest.mark.parametrize(
    ("dist", "value", "match"),
    [
        (FloatDistribution(0.0, 1.0), 1.5, "parameter 'p': 1.5 is outside"),
        (FloatDistribution(0.0, 1.0, step=0.5), 0.25, "parameter 'p': 0.25 is outside"),
        (IntDistribution(0, 10, step=5), 3, "parameter 'p': 3 is outside"),
        (IntDistribution(1, 100, log=True), 0, "parameter 'p': 0 is outside"),
        (FloatDistribution(0.0, 1.0), "x", "is not a number"),
        (CategoricalDistribution(("a",)), "b", "not one of the choices"),
    ],
)
def test_check_value_says_why_a_value_does_not_fit(dist, value, match) -> None:
    with pytest.raises(InvalidValue, match=match):
        check_value("p", dist, value)
