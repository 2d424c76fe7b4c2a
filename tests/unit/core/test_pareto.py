"""Pareto helpers against brute force: ranks by peeling, hypervolume by inclusion-exclusion."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunefleet.core import pareto
from tunefleet.core.pareto import (
    GrowingRanks,
    _small_front,
    crowding_distance,
    hssp,
    hypervolume,
    nondominated_ranks,
    pareto_front,
)


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a <= b) and np.any(a < b))


def peeled_ranks(loss: np.ndarray) -> np.ndarray:
    ranks = np.full(len(loss), -1)
    rest = set(range(len(loss)))
    r = 0
    while rest:
        front = {i for i in rest if not any(dominates(loss[j], loss[i]) for j in rest)}
        for i in front:
            ranks[i] = r
        rest -= front
        r += 1
    return ranks


def union_of_boxes(pts: np.ndarray, ref: np.ndarray) -> float:
    """The volume of the union of the boxes [p, ref], by inclusion-exclusion."""
    pts = pts[np.all(pts < ref, axis=1)]
    total = 0.0
    for k in range(1, len(pts) + 1):
        for subset in itertools.combinations(range(len(pts)), k):
            corner = pts[list(subset)].max(axis=0)
            total += (-1) ** (k + 1) * float(np.prod(ref - corner))
    return total


def point_sets(max_n: int, max_m: int, grid: bool) -> st.SearchStrategy[np.ndarray]:
    coords = st.integers(0, 5).map(float) if grid else st.floats(0.0, 10.0)
    return st.integers(1, max_n).flatmap(lambda n: st.integers(1, max_m).flatmap(
        lambda m: st.lists(st.lists(coords, min_size=m, max_size=m), min_size=n, max_size=n))).map(np.array)


# ---- non-dominated sorting ------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(loss=point_sets(30, 4, grid=True))
def test_ranks_are_the_fronts_peeled_one_by_one(loss: np.ndarray) -> None:
    assert nondominated_ranks(loss).tolist() == peeled_ranks(loss).tolist()
    assert pareto_front(loss).tolist() == (peeled_ranks(loss) == 0).tolist()


@settings(max_examples=100, deadline=None)
@given(loss=point_sets(40, 4, grid=True))
def test_the_all_pairs_front_of_a_few_points_is_the_peeled_one(loss: np.ndarray) -> None:
    """What ``hypervolume`` uses on small sets: duplicates stay on the front, as in
    ``pareto_front``."""
    assert _small_front(loss).tolist() == pareto_front(loss).tolist()


@settings(max_examples=100, deadline=None)
@given(loss=point_sets(20, 3, grid=True), data=st.data())
def test_constrained_ranks_put_feasible_rows_first_then_by_violation(loss: np.ndarray,
                                                                    data: st.DataObject) -> None:
    penalty = np.array(data.draw(st.lists(st.sampled_from([0.0, -1.0, 0.5, 2.0, np.nan]),
                                          min_size=len(loss), max_size=len(loss))))
    got = nondominated_ranks(loss, penalty=penalty)
    ok = penalty <= 0
    assert got[ok].tolist() == peeled_ranks(loss[ok]).tolist()
    if (~ok).any():
        top = got[ok].max(initial=-1) + 1
        worst = np.nan_to_num(penalty[~ok], nan=np.inf)
        want = top + np.searchsorted(np.unique(worst), worst)  # one rank per distinct violation
        assert got[~ok].tolist() == want.tolist()


def test_ranks_with_one_objective_are_the_order_of_the_values() -> None:
    assert nondominated_ranks(np.array([[3.0], [1.0], [3.0], [2.0]])).tolist() == [2, 0, 2, 1]
    assert nondominated_ranks(np.zeros((0, 2))).tolist() == []


# ---- crowding distance ----------------------------------------------------------------------
def test_crowding_distance_by_hand() -> None:
    front = np.array([[0.0, 4.0], [1.0, 2.0], [2.0, 1.0], [4.0, 0.0]])
    got = crowding_distance(front)
    assert np.isinf(got[0]) and np.isinf(got[3])
    # (2 - 0) / 4 + (4 - 1) / 4 and (4 - 1) / 4 + (2 - 0) / 4
    assert got[1:3].tolist() == [pytest.approx(1.25), pytest.approx(1.25)]
    assert crowding_distance(np.array([[1.0, 1.0], [1.0, 1.0]])).tolist() == [0.0, 0.0]
    assert crowding_distance(np.zeros((0, 2))).tolist() == []


# ---- hypervolume ----------------------------------------------------------------------------
def test_hypervolume_2d_by_hand() -> None:
    pts = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    assert hypervolume(pts, np.array([4.0, 4.0])) == 3 + 2 + 1  # a staircase of three columns
    assert hypervolume(pts[:1], np.array([4.0, 4.0])) == 3.0
    # dominated points and duplicates change nothing
    more = np.vstack([pts, [[2.5, 2.5], [2.0, 2.0]]])
    assert hypervolume(more, np.array([4.0, 4.0])) == 6.0


def test_hypervolume_3d_by_hand() -> None:
    ref = np.array([2.0, 2.0, 2.0])
    unit = np.eye(3)  # three boxes 1 x 2 x 2 meeting in a unit cube: 3 * 4 - 3 * 2 + 1
    assert hypervolume(unit, ref) == pytest.approx(7.0)
    assert hypervolume(np.array([[0.0, 0.0, 0.0]]), ref) == pytest.approx(8.0)


@settings(max_examples=150, deadline=None)
@given(pts=point_sets(7, 4, grid=False))
def test_hypervolume_is_the_union_of_the_boxes(pts: np.ndarray) -> None:
    ref = np.full(pts.shape[1], 11.0)
    assert hypervolume(pts, ref) == pytest.approx(union_of_boxes(pts, ref), rel=1e-9, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(pts=point_sets(12, 3, grid=False), extra=st.lists(st.floats(0.0, 12.0), min_size=3, max_size=3))
def test_hypervolume_never_shrinks_when_a_point_is_added(pts: np.ndarray, extra: list[float]) -> None:
    ref = np.full(pts.shape[1], 11.0)
    point = np.array(extra[: pts.shape[1]])
    assert hypervolume(np.vstack([pts, point]), ref) >= hypervolume(pts, ref) - 1e-9


@settings(max_examples=150, deadline=None)
@given(pts=point_sets(80, 4, grid=True), size=st.sampled_from([3, 400]))
def test_hypervolume_on_the_grid_is_the_sliced_one(pts: np.ndarray, size: int) -> None:
    """The 3-D grid volume (also each slice of a 4-D one) against slicing by the last
    objective down to 2-D, with ties, duplicates and dominated points; ``size``: the most
    points measured on the grid (3: hardly any)."""
    ref = np.full(pts.shape[1], 6.0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pareto, "_GRID", 0)
        sliced = hypervolume(pts, ref)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pareto, "_GRID", size)
        assert hypervolume(pts, ref) == pytest.approx(sliced, rel=1e-12, abs=1e-12)


def test_hypervolume_is_zero_when_no_point_dominates_the_reference() -> None:
    ref = np.array([1.0, 1.0, 1.0])
    assert hypervolume(np.array([[1.0, 0.0, 0.0], [2.0, 2.0, 2.0], [0.0, 5.0, 0.0]]), ref) == 0.0
    assert hypervolume(np.zeros((0, 3)), ref) == 0.0
    assert hypervolume(np.array([[1.0, 0.5]]), np.array([1.0, 1.0])) == 0.0


def test_hypervolume_of_a_large_3d_front_is_quick_and_exact_on_a_grid() -> None:
    # the points (i, j, k) with i + j + k = 9 on a grid: the union of unit cells below them
    pts = np.array([(i, j, 9 - i - j) for i in range(10) for j in range(10 - i)], dtype=float)
    ref = np.full(3, 10.0)
    cells = sum(1 for c in itertools.product(range(10), repeat=3) if sum(c) >= 9)
    assert hypervolume(pts, ref) == pytest.approx(float(cells))


@settings(max_examples=60, deadline=None)
@given(pts=point_sets(9, 3, grid=False), k=st.integers(1, 8))
def test_subset_selection_is_the_greedy_one(pts: np.ndarray, k: int) -> None:
    """Each pick adds the most hypervolume to the picks before it (real-valued points, so
    no two gains tie and the greedy path is unique)."""
    ref = np.full(pts.shape[1], 11.0)
    want: list[int] = []
    while len(want) < min(k, len(pts)):
        gains = [(union_of_boxes(pts[want + [i]], ref), -i) for i in range(len(pts)) if i not in want]
        want.append(-max(gains)[1])
    got = hssp(pts, k, ref)
    assert union_of_boxes(pts[got], ref) == pytest.approx(union_of_boxes(pts[want], ref), rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(2, 40), share=st.floats(0.05, 0.95), seed=st.integers(0, 10**6),
       levels=st.sampled_from([6, 12, 0]))
def test_subset_selection_on_a_2d_front_is_the_lazy_one(n: int, share: float, seed: int,
                                                        levels: int) -> None:
    """On a 2-D front, the search that scores every row each step picks k distinct rows;
    with real values (0 levels) the very same rows as the lazy search. With few levels
    (duplicates, rows on the reference's edge, gains that tie) the two may break a tie
    differently and go on along another greedy path, so only the greedy bound is checked:
    at least (1 - 1/e) of the best volume either search found."""
    rng = np.random.default_rng(seed)
    if levels:
        m = min(n, levels + 1)  # distinct rows, then copies of them
        x = np.sort(rng.choice(levels + 1, m, replace=False)) / levels
        y = np.sort(rng.choice(levels + 1, m, replace=False))[::-1] / levels
    else:
        m = n
        x, y = np.sort(rng.uniform(0, 1, m)), np.sort(rng.uniform(0, 1, m))[::-1]
    front = np.stack([x, y], axis=1)
    pts = front[np.concatenate([np.arange(m), rng.integers(0, m, n - m)])][rng.permutation(n)]
    assert pareto._is_front_2d(pts)
    ref = np.array([1.0, 1.0])
    k = max(1, int(share * n))
    got = hssp(pts, k, ref)
    assert len(got) == k and len(set(got.tolist())) == k
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pareto, "_is_front_2d", lambda p: False)
        lazy = hssp(pts, k, ref)
    volumes = hypervolume(pts[got], ref), hypervolume(pts[lazy], ref)
    assert volumes[0] >= (1 - 1 / np.e) * max(volumes) - 1e-12
    if not levels:  # no ties: the very same rows
        assert got.tolist() == lazy.tolist()


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 30), s=st.integers(1, 25), seed=st.integers(0, 10**6),
       levels=st.sampled_from([3, 10, 0]))
def test_corner_volumes_are_those_of_the_grid(n: int, s: int, seed: int, levels: int) -> None:
    """Every row's corner volume from the chosen rows' one grid is ``_hv3`` of its corners,
    with ties and duplicates on few levels, and rows on the reference's faces. (Here they
    are equal to the bit; the test allows for a BLAS that sums a stacked product in another
    order than a single one.)"""
    rng = np.random.default_rng(seed)
    pts = rng.integers(0, levels + 1, size=(n + s, 3)) / levels if levels else rng.random((n + s, 3))
    ref = np.array([1.0, 1.0, 1.0]) if levels else 1.1 * pts.max(axis=0)
    chosen, rows = pts[:s], pts[s:]
    got = pareto._corner_volumes(chosen, rows, ref)
    want = [pareto._hv3(np.maximum(chosen, p), ref) for p in rows]
    assert np.allclose(got, want, rtol=1e-12, atol=1e-15)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(2, 40), share=st.floats(0.05, 0.95), seed=st.integers(0, 10**6),
       levels=st.sampled_from([4, 12, 0]), front=st.booleans())
def test_subset_selection_in_3d_is_the_lazy_one(n: int, share: float, seed: int, levels: int,
                                                front: bool) -> None:
    """In 3-D, the lazy search with every row's contribution computed at once picks k
    distinct rows; on a front of real values, the very rows of the lazy search with one
    ``_hv3`` per row re-evaluated. Where gains tie (a grid of few levels: ties and
    duplicates) or are 0 but for rounding (dominated rows), a last-bit difference between
    the two products may break a tie the other way (none does with this machine's BLAS),
    so there only the greedy bound is checked: at least (1 - 1/e) of the best volume
    either search found."""
    rng = np.random.default_rng(seed)
    pts = rng.integers(0, levels, size=(n, 3)) / levels if levels else rng.random((n, 3))
    if front:
        pts[:, 2] = pts[:, :2].sum(axis=1).max() - pts[:, :2].sum(axis=1)  # x + y + z constant
    ref = 1.1 * pts.max(axis=0) + 0.01
    k = max(1, int(share * n))
    got = hssp(pts, k, ref)
    assert len(got) == k and len(set(got.tolist())) == k
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pareto, "_STEP_CELLS", 0)  # one row at a time
        lazy = hssp(pts, k, ref)
    volumes = hypervolume(pts[got], ref), hypervolume(pts[lazy], ref)
    assert volumes[0] >= (1 - 1 / np.e) * max(volumes) - 1e-12
    if front and not levels:
        assert got.tolist() == lazy.tolist()


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 40), st.integers(1, 4), st.integers(0, 2**32 - 1),
       st.sampled_from([2, 5, 0]))
def test_unique_rows_are_numpys(n: int, m: int, seed: int, levels: int) -> None:
    """The distinct rows, lexsorted, and each row's place among them, as ``np.unique`` gives
    them: real values (no ties), few levels (ties in the first column, duplicates), -0.0
    with 0.0, infinities, NaN."""
    rng = np.random.default_rng(seed)
    loss = rng.integers(-levels, levels + 1, size=(n, m)) * 0.5 if levels else rng.random((n, m))
    loss[rng.random((n, m)) < 0.1] = rng.choice([-0.0, np.inf, -np.inf, np.nan])
    uniq, inv = pareto._unique_rows(loss)
    want_uniq, want_inv = np.unique(loss, axis=0, return_inverse=True)
    assert np.array_equal(uniq, want_uniq, equal_nan=True)
    assert inv.tolist() == np.asarray(want_inv).reshape(-1).tolist()


@settings(max_examples=400, deadline=None)
@given(st.integers(2, 4), st.lists(st.integers(1, 12), min_size=1, max_size=10),
       st.integers(0, 2**32 - 1), st.sampled_from([3, 8, 1000]), st.booleans())
def test_growing_ranks_equal_a_fresh_peel(m: int, batches: list[int], seed: int, levels: int,
                                          in_order: bool) -> None:
    """Rows added a few at a time (ties and duplicates with few levels), shown in a new order
    each call (trial-number order, with late finishers in the middle) or in the order they
    came (new rows at the end), n_below moving up and down, now and then a subset (a
    Hyperband cohort, which starts over): every call equals ``nondominated_ranks`` on the
    rows it is given."""
    rng = np.random.default_rng(seed)
    grow = GrowingRanks()
    rows = np.zeros((0, m))
    for size in batches:
        rows = np.vstack([rows, rng.integers(0, levels, size=(size, m)).astype(float)])
        ids = np.arange(len(rows))
        perm = np.arange(len(rows)) if in_order else rng.permutation(len(rows))
        if rng.random() < 0.2:
            perm = perm[: max(1, len(perm) // 2)]
        n_below = int(rng.integers(1, len(rows) + 2))
        got = grow.ranks(ids[perm], rows[perm], n_below)
        assert np.array_equal(got, nondominated_ranks(rows[perm], n_below))


def test_growing_ranks_place_a_new_row_without_peeling_again() -> None:
    """A row added behind the front is placed by comparisons: the kept ranks are used (a
    changed kept row starts over, and still gives the right ranks)."""
    rng = np.random.default_rng(1)
    rows = rng.random((2000, 3))
    grow = GrowingRanks()
    grow.ranks(np.arange(2000), rows, 200)
    depth = grow._depth
    more = np.vstack([rows, [[0.9, 0.9, 0.9]]])
    got = grow.ranks(np.arange(2001), more, 200)
    assert np.array_equal(got, nondominated_ranks(more, 200)) and grow._depth == depth
    changed = more.copy()
    changed[0] = [0.0, 0.0, 0.0]  # dominates everything
    got = grow.ranks(np.arange(2001), changed, 200)
    assert np.array_equal(got, nondominated_ranks(changed, 200))


@settings(max_examples=150, deadline=None)
@given(n=st.integers(3, 45), short=st.integers(1, 3), seed=st.integers(0, 10**6),
       front=st.booleans())
def test_subset_selection_in_3d_taking_most_of_a_front_is_the_lazy_one(n: int, short: int,
                                                                       seed: int,
                                                                       front: bool) -> None:
    """All but one to three rows taken (MOTPE's good trials often take all but a few of the
    last front), where the rows' contributions are computed for the rows not chosen only:
    the very rows of the lazy search with one ``_hv3`` per row re-evaluated, on real values
    (no ties)."""
    rng = np.random.default_rng(seed)
    pts = rng.random((n, 3))
    if front:
        pts[:, 2] = pts[:, :2].sum(axis=1).max() - pts[:, :2].sum(axis=1)
    ref = 1.1 * pts.max(axis=0) + 0.01
    k = max(1, n - short)
    got = hssp(pts, k, ref)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pareto, "_STEP_CELLS", 0)  # one row at a time
        assert got.tolist() == hssp(pts, k, ref).tolist()
