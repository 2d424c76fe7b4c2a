"""Ranked: the k-th smallest of a growing multiset, against sorting."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunefleet.pruners.ranks import Ranked

values = st.one_of(st.integers(-5, 5).map(float), st.floats(allow_nan=False))
ops = st.lists(st.one_of(st.tuples(st.just("add"), values), st.tuples(st.just("kth"), st.integers(0, 60))))


@given(ops)
def test_kth_is_the_kth_of_the_sorted_values(script: list[tuple[str, float]]) -> None:
    ranked, plain = Ranked(), []
    for op, x in script:
        if op == "add":
            ranked.add(x)
            plain.append(x)
        elif plain:
            k = int(x) % len(plain)
            plain.sort()
            assert ranked.kth(k) == plain[k]
            if k + 1 < len(plain):
                assert ranked.kth_pair(k) == (plain[k], plain[k + 1])
        assert len(ranked) == len(plain)


def test_out_of_range_ranks_are_refused() -> None:
    ranked = Ranked()
    with pytest.raises(IndexError):
        ranked.kth(0)
    ranked.add(1.0)
    ranked.add(-math.inf)
    assert ranked.kth(0) == -math.inf and ranked.kth(1) == 1.0
    with pytest.raises(IndexError):
        ranked.kth(2)
    with pytest.raises(IndexError):
        ranked.kth_pair(1)
