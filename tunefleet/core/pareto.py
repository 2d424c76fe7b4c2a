"""Pareto dominance on minimisation losses: non-dominated sorting, crowding, hypervolume.

Every function takes a (n, m) array of losses, smaller is better in every column (negate
a maximised objective first), and is pure numpy. The samplers use them (TPE's split,
NSGA-II's selection) and so does the study's hypervolume.

- ``nondominated_ranks``: the Pareto rank of each row (0 is the front), optionally with
  Deb's constrained domination (feasible rows first; infeasible ones by total violation).
- ``pareto_front``: which rows are on the front.
- ``crowding_distance``: NSGA-II's density estimate (Deb et al., IEEE TEVC 6(2), 2002).
- ``hypervolume``: the exact volume dominated by the rows and bounded by a reference
  point: a sweep in 2-D, slicing by the last objective above (fine for fronts of a few
  hundred points in 3-D, a few dozen in 4-D and more); the front of a few points is found
  by comparing all pairs at once (``hssp`` asks it for hundreds of small sets).
- ``hssp``: greedy hypervolume subset selection.
- ``GrowingRanks``: ``nondominated_ranks`` of a set that grows, kept from call to call
  (MOTPE's split at every ask).
"""

from __future__ import annotations

import numpy as np


def nondominated_ranks(
    loss: np.ndarray, n_below: int | None = None, *, penalty: np.ndarray | None = None
) -> np.ndarray:
    """Pareto rank of each row (0 is the front), peeling fronts until ``n_below`` rows are
    ranked (all of them by default); rows left unranked get -1.

    With ``penalty`` (the total constraint violation of each row; a row is feasible when it
    is <= 0), Deb's constrained domination: feasible rows are ranked among themselves
    first, then infeasible rows after them, one rank per distinct violation, smallest
    first. A NaN violation counts as an infinite one."""
    loss = np.asarray(loss, dtype=float)
    n = len(loss)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    want = n if n_below is None else int(n_below)
    if penalty is None:
        return _ranks(loss, want)
    pen = np.nan_to_num(np.asarray(penalty, dtype=float), nan=np.inf)
    ok = pen <= 0
    ranks = np.full(n, -1, dtype=np.int64)
    if ok.any():
        ranks[ok] = _ranks(loss[ok], want)
    left = want - int(ok.sum())
    if left > 0 and not ok.all():
        top = int(ranks[ok].max(initial=-1)) + 1
        bad = _ranks(pen[~ok][:, None], left)
        ranks[~ok] = np.where(bad >= 0, top + bad, -1)
    return ranks


def pareto_front(loss: np.ndarray) -> np.ndarray:
    """A boolean mask of the rows no other row dominates (duplicates are all on it)."""
    return nondominated_ranks(loss, 1) == 0


def _ranks(loss: np.ndarray, n_below: int) -> np.ndarray:
    uniq, inv = _unique_rows(loss)  # lexsorted: later never dominates
    ranks_u = np.full(len(uniq), -1, dtype=np.int64)
    counts = np.bincount(inv, minlength=len(uniq))
    rest = np.arange(len(uniq))
    rank = 0
    ranked_rows = 0
    while rest.size and ranked_rows < n_below:
        front = _front(uniq[rest])
        ranks_u[rest[front]] = rank
        ranked_rows += int(counts[rest[front]].sum())
        rest = rest[~front]
        rank += 1
    return ranks_u[inv]


def _unique_rows(loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(loss, axis=0, return_inverse=True)``: the distinct rows, lexsorted, and
    where each row is among them. A stable sort by the first column is lexsorted already
    when that column has no ties (the usual case with real losses), several times quicker
    than ``np.unique``'s sort of whole rows; with ties, a lexsort. Rows with NaN go to
    ``np.unique``, which keeps NaN rows apart."""
    n, m = loss.shape
    if n == 0 or np.isnan(loss).any():
        uniq, inv = np.unique(loss, axis=0, return_inverse=True)
        return uniq, np.asarray(inv).reshape(-1)
    order = np.argsort(loss[:, 0], kind="stable")
    inv = np.empty(n, dtype=np.int64)
    col = loss[order, 0]
    if not np.any(col[1:] == col[:-1]):  # no ties: every row distinct
        inv[order] = np.arange(n)
        return loss[order], inv
    if m > 1:
        order = np.lexsort(loss.T[::-1])
    rows = loss[order]
    first = np.ones(n, dtype=bool)  # the first of its run of equal rows
    first[1:] = np.any(rows[1:] != rows[:-1], axis=1)
    inv[order] = np.cumsum(first) - 1
    return rows[first], inv


def _front(pts: np.ndarray) -> np.ndarray:
    """Which rows of unique, lexsorted minimisation points are non-dominated."""
    n, m = pts.shape
    if m == 1:
        on = np.zeros(n, dtype=bool)
        on[0] = True
        return on
    if m == 2:
        cummin = np.minimum.accumulate(pts[:, 1])
        on = np.ones(n, dtype=bool)
        on[1:] = cummin[1:] < cummin[:-1]
        return on
    on = np.zeros(n, dtype=bool)
    rest = np.arange(n)
    tail = pts[:, 1:]
    while rest.size:
        on[rest[0]] = True
        keep = np.any(tail < tail[0], axis=1)
        rest, tail = rest[keep], tail[keep]
    return on


def crowding_distance(loss: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of each row within ``loss`` (one front, usually): per
    objective, the gap between a row's two neighbours in that objective divided by the
    objective's (finite) range, summed; the extreme rows of an objective get infinity. An
    objective on which all rows are equal adds nothing, and inf - inf counts as 0 (as
    Optuna computes it)."""
    loss = np.asarray(loss, dtype=float)
    n = len(loss)
    out = np.zeros(n)
    if n == 0:
        return out
    for j in range(loss.shape[1]):
        order = np.argsort(loss[:, j], kind="stable")
        v = loss[order, j]
        if v[0] == v[-1]:
            continue
        finite = v[np.isfinite(v)]
        width = float(finite.max() - finite.min()) if finite.size else 0.0
        if not width > 0:
            width = 1.0
        padded = np.concatenate([[-np.inf], v, [np.inf]])
        hi, lo = padded[2:], padded[:-2]
        with np.errstate(invalid="ignore"):
            gap = np.where(hi == lo, 0.0, hi - lo)
        out[order] += gap / width
    return out


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """The volume dominated by minimisation ``points`` (n, m) and bounded by ``reference``
    (m,). Points that do not strictly dominate the reference add nothing; 0 if none does."""
    pts = np.asarray(points, dtype=float).reshape(-1, len(reference))
    ref = np.asarray(reference, dtype=float)
    pts = pts[np.all(pts < ref, axis=1)]
    if len(pts) == 0:
        return 0.0
    if pts.shape[1] == 3 and len(pts) <= _GRID:
        return _hv3(pts, ref)  # (dominated points change nothing there: no front needed)
    if pts.shape[1] > 2:
        pts = pts[_small_front(pts) if len(pts) <= _SMALL else pareto_front(pts)]
    return _hv(pts, ref)


_SMALL = 64  # up to this many points, the front by all pairs at once
_GRID = 400  # up to this many points, a 3-D volume on the grid of their x and y values


def _hv3(pts: np.ndarray, ref: np.ndarray) -> float:
    """The 3-D volume of points no worse than ``ref``, on the grid that their x and y values
    cut the reference box into: above cell (a, b) the volume is dominated from the least z
    of the points with x <= the cell's x and y <= its y, a prefix minimum over both axes.
    n^2 cells, a few numpy calls, no front and no recursion. Points of equal x (or y) may
    take their ranks in any order: the cells between them are 0 wide."""
    n = len(pts)
    by_x, by_y = np.argsort(pts[:, 0]), np.argsort(pts[:, 1])
    z = np.full((n, n), ref[2])
    z[np.argsort(by_x), np.argsort(by_y)] = pts[:, 2]  # at (x rank, y rank): one point a cell
    np.minimum.accumulate(z, axis=0, out=z)
    np.minimum.accumulate(z, axis=1, out=z)
    xs, ys = np.append(pts[by_x, 0], ref[0]), np.append(pts[by_y, 1], ref[1])
    return float((xs[1:] - xs[:-1]) @ (ref[2] - z) @ (ys[1:] - ys[:-1]))


def _small_front(pts: np.ndarray) -> np.ndarray:
    """``pareto_front`` of a few points: every pair compared in one numpy call."""
    le = np.all(pts[None, :, :] <= pts[:, None, :], axis=2)  # le[i, j]: j nowhere worse than i
    lt = np.any(pts[None, :, :] < pts[:, None, :], axis=2)
    dominated: np.ndarray = np.any(le & lt, axis=1)
    return ~dominated


def _hv(pts: np.ndarray, ref: np.ndarray) -> float:
    if pts.shape[1] == 1:
        return float(ref[0] - pts[:, 0].min())
    if pts.shape[1] == 3 and len(pts) <= _GRID:
        return _hv3(pts, ref)
    if pts.shape[1] == 2:
        pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]
        ys = np.minimum.accumulate(pts[:, 1])
        xs = np.append(pts[1:, 0], ref[0])
        return float(np.sum((xs - pts[:, 0]) * (ref[1] - ys)))
    # slices between consecutive values of the last objective: the prefix's (m-1)-D volume
    pts = pts[np.argsort(pts[:, -1], kind="stable")]
    tops = np.append(pts[1:, -1], ref[-1])
    return float(sum((tops[i] - pts[i, -1]) * _hv(pts[: i + 1, :-1], ref[:-1])
                     for i in range(len(pts)) if tops[i] > pts[i, -1]))


def hssp(pts: np.ndarray, k: int, ref: np.ndarray) -> np.ndarray:
    """Greedy hypervolume subset selection (Guerreiro et al., Evol. Comput. 2016): positions of
    k rows, lazily re-evaluating contributions, which only shrink as the subset grows.

    A row's contribution to the chosen set S is its box minus the volume S dominates inside
    that box, which is the hypervolume of the componentwise maxima of S and the row: a set
    that is mostly dominated, so far cheaper than the hypervolume of S plus the row. Every
    row must be no worse than ``ref``.

    In 3-D (with S on a small grid), the first re-evaluation after each pick computes the
    contribution to S of every row not chosen at once (``_corner_volumes``, the very values
    one ``_hv3`` per row gives), and the lazy search takes its re-evaluations from them: the
    same search, the same rows, with a few numpy calls a pick instead of a few per row
    re-evaluated (about 8 rows a pick on MOTPE's fronts at 10,000 trials)."""
    n = len(pts)
    if k >= n:
        return np.arange(n)
    if pts.shape[1] == 2 and _is_front_2d(pts):
        return _hssp_front_2d(pts, k, ref)
    at_once = pts.shape[1] == 3 and k <= _GRID and n * k * k <= _STEP_CELLS
    box = np.prod(ref - pts, axis=1)
    bound = box.copy()
    fresh = np.zeros(n, dtype=bool)
    chosen: list[int] = []
    left = np.ones(n, dtype=bool)  # not chosen
    now: np.ndarray | None = None  # (at_once) the contributions of the rows not chosen
    while len(chosen) < k:
        i = int(bound.argmax())  # (the method: the function wrapper is most of a call)
        if fresh[i]:
            chosen.append(i)
            left[i] = False
            bound[i] = -np.inf
            fresh[:] = False
            now = None
            continue
        if chosen and at_once:
            if now is None:
                # (each row on its own grid: leaving the chosen rows out changes no value,
                # and spares most of the cells when most of a front is taken)
                now = np.full(n, np.nan)
                now[left] = box[left] - _corner_volumes(pts[chosen], pts[left], ref)
            bound[i] = now[i]
        elif chosen:
            corners = np.maximum(pts[chosen], pts[i])  # no worse than ref, as every row
            bound[i] = box[i] - _corner_volume(corners, ref)
        fresh[i] = True
    return np.array(sorted(chosen), dtype=np.int64)


_STEP_CELLS = 1 << 20  # hssp in 3-D: every row's contribution at once up to this many grid cells


def _corner_volumes(chosen: np.ndarray, rows: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per row p, ``_hv3`` of the corners max(chosen, p), to the bit, all rows at once from
    one grid of the chosen rows. The max with p keeps the chosen rows' order on each axis
    (ties aside, which only make cells 0 wide), so p's grid has the x edges max(sorted
    chosen x, p's x), the y edges likewise, and above each cell the chosen grid's least z
    raised to p's z (the least of values raised to p's z is the least of them raised to
    it); the same cells, the same products summed in the same order."""
    s = len(chosen)
    by_x, by_y = np.argsort(chosen[:, 0]), np.argsort(chosen[:, 1])
    z = np.full((s, s), ref[2])
    z[np.argsort(by_x), np.argsort(by_y)] = chosen[:, 2]
    np.minimum.accumulate(z, axis=0, out=z)
    np.minimum.accumulate(z, axis=1, out=z)
    height = ref[2] - np.maximum(z, rows[:, 2, None, None])  # (rows, s, s)
    xs, ys = np.empty((len(rows), s + 1)), np.empty((len(rows), s + 1))
    np.maximum(chosen[by_x, 0], rows[:, :1], out=xs[:, :s])
    np.maximum(chosen[by_y, 1], rows[:, 1:2], out=ys[:, :s])
    xs[:, s], ys[:, s] = ref[0], ref[1]
    dx, dy = xs[:, 1:] - xs[:, :-1], ys[:, 1:] - ys[:, :-1]  # (np.diff, without its wrapper)
    volume: np.ndarray = (dx[:, None, :] @ height @ dy[:, :, None])[:, 0, 0]
    return volume


def _is_front_2d(pts: np.ndarray) -> bool:
    """Whether no row of a 2-D ``pts`` dominates another (equal rows allowed)."""
    order = np.lexsort((pts[:, 1], pts[:, 0]))
    return not bool(np.any(np.diff(pts[order, 1]) > 0))


def _hssp_front_2d(pts: np.ndarray, k: int, ref: np.ndarray) -> np.ndarray:
    """``hssp`` of a 2-D front, each step at once: with no row dominating another, a row's
    contribution to the chosen set is the rectangle from it to the next chosen x on its
    right and the y of the next chosen row on its left (the reference where there is
    none), so every contribution comes from two searches in the chosen rows, sorted by x
    (y falls as x grows). Ties go to the lowest position, as in the lazy search."""
    x, y = pts[:, 0], pts[:, 1]
    chosen = np.zeros(len(pts), dtype=bool)
    for _ in range(k):
        cx = np.sort(x[chosen])
        cy = np.sort(y[chosen])[::-1]  # the chosen rows' y in their x order
        right = np.searchsorted(cx, x, side="left")  # the first chosen x >= a row's
        left = np.searchsorted(cx, x, side="right") - 1  # the last chosen x <= a row's
        next_x = np.append(cx, ref[0])[right]
        prev_y = np.where(left >= 0, cy[np.maximum(left, 0)] if len(cy) else ref[1], ref[1])
        gain = (next_x - x) * (prev_y - y)
        gain[chosen] = -np.inf
        chosen[int(np.argmax(gain))] = True
    return np.flatnonzero(chosen)


def _corner_volume(corners: np.ndarray, ref: np.ndarray) -> float:
    """``hypervolume`` of points no worse than ``ref``, with no check of that: straight to
    the staircase in 2-D and the grid in 3-D."""
    m = corners.shape[1]
    if m == 2:
        return _hv(corners, ref)
    if m == 3 and len(corners) <= _GRID:
        return _hv3(corners, ref)
    return hypervolume(corners, ref)


class GrowingRanks:
    """``nondominated_ranks(loss, n_below)`` of a set of rows that grows from call to call
    (a study's finished trials), with the ranks kept in between: each call returns what the
    function would, and the rows added since the last call are placed by comparing them
    with the rows kept, instead of peeling every front again.

    ``ids`` name the rows (unique ints, such as the trials' finished indices); a call whose
    ids do not include the last call's, or whose kept rows changed, starts over. A row's
    rank is 1 + the largest rank of the rows that dominate it, so a new row p changes the
    ranks of some of the rows it dominates only, each by one (``_place``)."""

    def __init__(self) -> None:
        self._ids = np.zeros(0, dtype=np.int64)
        self._loss = np.zeros((0, 0))
        self._rank = np.zeros(0, dtype=np.int64)  # -1: rank >= self._depth (not peeled)
        self._depth = 0  # fronts 0 .. depth - 1 are peeled

    def ranks(self, ids: np.ndarray, loss: np.ndarray, n_below: int) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        loss = np.asarray(loss, dtype=float)
        n = len(loss)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        at = self._kept_at(ids, loss)
        if at is None:
            rank = _ranks(loss, n_below)
            self._depth = int(rank.max()) + 1
        else:
            rank = np.full(n, -2, dtype=np.int64)  # -2: not placed yet
            rank[at] = self._rank
            for j in np.flatnonzero(rank == -2):
                self._place(loss, rank, int(j))
        self._ids, self._loss, self._rank = ids.copy(), loss.copy(), rank
        self._deepen(n_below)
        out = self._rank.copy()
        counts = np.bincount(out[out >= 0], minlength=self._depth)
        enough = np.flatnonzero(np.cumsum(counts) >= n_below)
        if enough.size:
            out[out > enough[0]] = -1
        return out

    def _kept_at(self, ids: np.ndarray, loss: np.ndarray) -> np.ndarray | None:
        """Where the kept rows are in this call's rows, or None if they are not all there."""
        if len(self._ids) == 0 or loss.shape[1] != self._loss.shape[1]:
            return None
        k = len(self._ids)
        if len(ids) >= k and np.array_equal(ids[:k], self._ids):  # rows added at the end only
            return np.arange(k) if np.array_equal(loss[:k], self._loss) else None
        order = np.argsort(ids, kind="stable")
        found = np.searchsorted(ids[order], self._ids)
        if np.any(found >= len(ids)):
            return None
        at = order[found]
        if not np.array_equal(ids[at], self._ids) or not np.array_equal(loss[at], self._loss):
            return None
        return at

    def _place(self, loss: np.ndarray, rank: np.ndarray, j: int) -> None:
        """Rank row j among the rows placed so far, and re-rank the rows it dominates."""
        placed = rank != -2
        p = loss[j]
        # (column by column: quicker than all/any along rows of a few columns)
        le, lt = loss[:, 0] <= p[0], loss[:, 0] < p[0]  # everywhere <= p; somewhere < p
        for c in range(1, len(p)):
            le &= loss[:, c] <= p[c]
            lt |= loss[:, c] < p[c]
        above = placed & le & lt
        # (a row past the peeled fronts that dominates p has a dominator of rank depth - 1,
        # which dominates p too: then r is depth)
        r = int(rank[above].max()) + 1 if above.any() else 0
        if r >= self._depth:
            rank[j] = -1
            return
        rank[j] = r
        # Rows of rank r that p dominates go one deeper; then, front by front, the rows that
        # a row just moved dominates. No row goes more than one deeper: a chain through p is
        # no longer than the one through p's dominator of rank r - 1, which dominates all
        # that p dominates.
        under = placed & (rank >= r) & ~lt & ~le  # everywhere >= p, somewhere > p
        old = rank.copy()
        moved = np.flatnonzero(under & (old == r))
        while moved.size:
            deeper = old[moved[0]] + 1
            rank[moved] = deeper if deeper < self._depth else -1
            next_front = np.flatnonzero(under & (old == deeper))
            if next_front.size == 0:
                break
            a, b = loss[moved][:, None, :], loss[next_front][None, :, :]
            hit = np.any(np.all(a <= b, axis=2) & np.any(a < b, axis=2), axis=0)
            moved = next_front[hit]

    def _deepen(self, n_below: int) -> None:
        """Peel further fronts until n_below rows are ranked (or none is left)."""
        short = n_below - int(np.count_nonzero(self._rank >= 0))
        rest = np.flatnonzero(self._rank == -1)
        if short <= 0 or rest.size == 0:
            return
        more = _ranks(self._loss[rest], short)
        self._rank[rest] = np.where(more >= 0, more + self._depth, -1)
        self._depth += int(more.max()) + 1
