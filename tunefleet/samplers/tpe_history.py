"""What TPE keeps about a study's finished trials, and how it splits them into good and bad.

``TrialFacts`` is a cache of per-trial facts that the StudyView columns do not hold
(feasibility, a pruned trial's last step and value, which distribution each param
was drawn from, the search spaces seen so far). It grows as ``view.n_finished``
grows, reading only the newly finished records, and is rebuilt from scratch if it
is handed another view: it is never more than a function of the view.

The split follows Optuna's TPE: the ``n_below`` best COMPLETE feasible trials are
good (by value, or by non-domination rank with a hypervolume tie-break when the
study has several objectives), topped up from the PRUNED trials that got furthest,
then from the least infeasible ones; every other trial is bad.
"""

from __future__ import annotations

import math

import numpy as np

from tunefleet.core.distributions import CategoricalDistribution, Distribution
from tunefleet.core.history import StudyView
from tunefleet.core.pareto import GrowingRanks, hssp
from tunefleet.core.settings import Direction
from tunefleet.core.trial import TrialRecord, TrialState
from tunefleet.samplers.parzen import Axis, log_unit_mass, merge_rows, take_rows

SKIP, GOOD, PRUNED, INFEASIBLE = 0, 1, 2, 3  # a finished trial's class; FAIL is SKIP
_EPS = 1e-12
_KEPT_BLOCKS = 8  # the blocks whose sorted columns TrialFacts keeps (``sorted_block``)


def usable(record: TrialRecord, name: str, dist: Distribution) -> float:
    """The internal value of ``name`` in ``record`` as a value of ``dist``, or NaN when the
    record drew it from a distribution that does not fit (another kind, other choices, or a
    value outside the range)."""
    used = record.distributions.get(name)
    if used is None or name not in record.params:
        return math.nan
    if used == dist:
        return used.to_internal(record.params[name])
    if isinstance(used, CategoricalDistribution) or isinstance(dist, CategoricalDistribution):
        return math.nan
    if type(used) is not type(dist):
        return math.nan
    x = used.to_internal(record.params[name])
    return x if dist.low <= x <= dist.high else math.nan


class _Column:
    """A float column that grows at its end without copying what it holds each time (its
    buffer doubles when full)."""

    def __init__(self) -> None:
        self._buf = np.empty(64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def extend(self, values: np.ndarray) -> None:
        end = self._n + len(values)
        if end > len(self._buf):
            buf = np.empty(max(end, 2 * len(self._buf)))
            buf[: self._n] = self._buf[: self._n]
            self._buf = buf
        self._buf[self._n : end] = values
        self._n = end

    @property
    def values(self) -> np.ndarray:
        """What it holds: a view, whose values never change (``extend`` only adds)."""
        return self._buf[: self._n]


class SortedBlock:
    """What TPE keeps about the numeric params of a block, as matrices that grow with the
    finished trials: ``units`` (n, params), each trial's ``unit_of`` positions (NaN where
    it has no usable value); ``order`` (params, n), row d the finished indices sorted by
    their value of param d (ties by finishing order), then those without a usable value;
    and, from ``log_mass``, each position's kernel's log mass on [0, 1] at a width (NaN
    positions count as 0.5). New trials are appended to ``units`` and merged into every
    row of ``order`` with one insert."""

    def __init__(self, d: int) -> None:
        self.order = np.zeros((d, 0), dtype=np.int64)
        self._key = np.zeros((d, 0))  # the sorted internal values, +inf for NaN
        self._units = np.empty((64, d))
        self._log_z = np.empty((64, d))
        self._complete = np.empty(64, dtype=bool)
        self._n = 0
        self._floor = math.nan

    @property
    def units(self) -> np.ndarray:
        return self._units[: self._n]

    @property
    def complete(self) -> np.ndarray:
        """Per finished trial, whether it holds a usable value of every param."""
        return self._complete[: self._n]

    def log_mass(self, floor: float) -> np.ndarray:
        """(n, params): ``parzen.log_unit_mass`` of ``units`` at the width ``floor``, kept
        while the floor stays (which it does from n = 98 on)."""
        if floor != self._floor:
            self._floor = floor
            self._log_z[: self._n] = log_unit_mass(np.nan_to_num(self.units, nan=0.5), floor)
        return self._log_z[: self._n]

    def grow(self, values: np.ndarray, units: np.ndarray) -> None:
        """Take in the next trials: ``values`` and ``units`` (params, new) as given by
        ``values_of`` and ``unit_of``."""
        d, m = values.shape
        start, end = self._n, self._n + m
        if end > len(self._units):
            cap = max(end, 2 * len(self._units))
            for name in ("_units", "_log_z", "_complete"):
                old = getattr(self, name)
                buf = np.empty((cap,) + old.shape[1:], dtype=old.dtype)
                buf[:start] = old[:start]
                setattr(self, name, buf)
        self._units[start:end] = units.T
        self._complete[start:end] = ~np.isnan(units).any(axis=0)
        if not math.isnan(self._floor):
            self._log_z[start:end] = log_unit_mass(np.nan_to_num(units.T, nan=0.5), self._floor)
        self._n = end
        key = np.where(np.isnan(values), np.inf, values)
        by = np.argsort(key, axis=1, kind="stable")  # ties by finishing order
        key = take_rows(key, by)
        self._key, self.order = merge_rows(self._key, key, (self.order, start + by))


class TrialFacts:
    """Per finished trial (in the view's finishing order): class, loss, violation, pruned
    step; plus the intersection space and the groups of params seen together."""

    def __init__(self, view: StudyView) -> None:
        self.view = view
        self.n = 0
        self.signs = np.array([1.0 if d == Direction.MINIMIZE else -1.0 for d in view.directions])
        self.cls = np.zeros(0, dtype=np.int8)
        self.violation = np.zeros(0)
        self.pruned_key = np.zeros((0, 2))
        self.n_used = 0  # COMPLETE and PRUNED trials: what n_startup_trials and gamma count
        self.fronts = GrowingRanks()  # the Pareto ranks of the complete trials, from ask to ask
        self.intersection: dict[str, Distribution] | None = None
        self.groups: list[dict[str, Distribution]] = []
        self._last_space: dict[str, Distribution] | None = None  # what _add_space saw last
        self._columns: dict[tuple[str, Distribution], _Column] = {}
        self._units: dict[tuple[str, Distribution], _Column] = {}
        self._blocks: dict[tuple[tuple[str, Distribution], ...], SortedBlock] = {}
        self._order: np.ndarray = np.zeros(0, dtype=np.int64)
        self._cohorts: np.ndarray = np.zeros(0, dtype=np.int64)  # -1: not known yet

    def sync(self) -> None:
        """Take in the trials that finished since the last call."""
        view = self.view
        new = view.n_finished - self.n
        if new <= 0:
            return
        numbers = view.numbers()
        cls = np.zeros(new, dtype=np.int8)
        violation = np.zeros(new)
        pruned_key = np.zeros((new, 2))
        for j in range(new):
            record = view.trials[int(numbers[self.n + j])]
            if record.state not in (TrialState.COMPLETE, TrialState.PRUNED):
                continue
            self.n_used += 1
            self._add_space(record.distributions)
            v = sum(c for c in record.constraints or () if c > 0)
            violation[j] = v
            if v > 0:
                cls[j] = INFEASIBLE
            elif record.state == TrialState.COMPLETE:
                cls[j] = GOOD
            else:
                cls[j] = PRUNED
            pruned_key[j] = self._pruned_key(record)
        self.cls = np.concatenate([self.cls, cls])
        self.violation = np.concatenate([self.violation, violation])
        self.pruned_key = np.concatenate([self.pruned_key, pruned_key])
        self.n = view.n_finished
        self._order = np.argsort(numbers, kind="stable")

    def _pruned_key(self, record: TrialRecord) -> tuple[float, float]:
        """Optuna's order of pruned trials: furthest step first, then best value there."""
        if not record.intermediate:
            return 1.0, 0.0
        step = max(record.intermediate)
        value = record.intermediate[step]
        if math.isnan(value) or len(self.signs) != 1:
            return -step, math.inf if math.isnan(value) else 0.0
        return -step, float(value * self.signs[0])

    def _add_space(self, used: dict[str, Distribution]) -> None:
        # Most trials use the space the one before used: then nothing changes (a group split
        # by one set of params is not split again by the same set). The dict compare checks
        # identity before equality, so shared distribution objects cost no __eq__ call.
        if used is self._last_space or used == self._last_space:
            return
        self._last_space = used
        if self.intersection is None:
            self.intersection = dict(used)
        else:
            self.intersection = {k: d for k, d in self.intersection.items()
                                 if (u := used.get(k)) is d or u == d}
        # Optuna's group decomposition: split every group by "used here or not".
        keys = set(used)
        groups: list[dict[str, Distribution]] = []
        for group in self.groups:
            inside = {k: used[k] for k in group if k in keys}
            outside = {k: d for k, d in group.items() if k not in keys}
            groups += [g for g in (inside, outside) if g]
            keys -= set(group)
        if keys:
            groups.append({k: used[k] for k in sorted(keys)})
        self.groups = groups

    def values_of(self, name: str, dist: Distribution) -> np.ndarray:
        """Internal values of ``name`` as a value of ``dist`` per finished trial; NaN where a
        trial did not use it or drew it from a distribution that does not fit."""
        col = self._columns.setdefault((name, dist), _Column())
        have = len(col)
        if have < self.n:
            raw = self.view.param(name)[have : self.n]
            numbers = self.view.numbers()
            # from ``since`` on, every trial that used the param drew it from ``dist``: its
            # value is taken as it is; before, each record says where its value came from
            since = self.view.distribution_since(name) if self.view.distribution(name) == dist else self.n
            ext = np.array(raw, dtype=float)
            for j in np.flatnonzero(~np.isnan(raw[: max(since - have, 0)])):
                record = self.view.trials[int(numbers[have + j])]
                if record.distributions.get(name) != dist:
                    ext[j] = usable(record, name, dist)
            col.extend(ext)
        return col.values

    def unit_of(self, name: str, dist: Distribution) -> np.ndarray:
        """``values_of`` on the [0, 1] axis TPE models ``dist`` on (``parzen.Axis``)."""
        values = self.values_of(name, dist)
        unit = self._units.setdefault((name, dist), _Column())
        if len(unit) < len(values):
            unit.extend(Axis.of(dist).to_unit(values[len(unit):]))
        return unit.values

    def sorted_block(self, params: tuple[tuple[str, Distribution], ...]) -> SortedBlock:
        """The ``SortedBlock`` of ``params`` (numeric ones), up to date with the finished
        trials; those of the last few blocks asked for are kept from ask to ask."""
        block = self._blocks.pop(params, None) or SortedBlock(len(params))
        have = len(block.units)
        if have < self.n:
            block.grow(np.stack([self.values_of(k, d)[have:] for k, d in params]),
                       np.stack([self.unit_of(k, d)[have:] for k, d in params]))
        self._blocks[params] = block  # (re)inserted last: the newest
        while len(self._blocks) > _KEPT_BLOCKS:
            del self._blocks[next(iter(self._blocks))]
        return block

    def by_number(self) -> np.ndarray:
        """Finished indices in trial-number order."""
        return self._order

    def cohort_mask(self, cohort: int) -> np.ndarray:
        """Which finished trials are of ``cohort`` (``view.cohort_of``: Hyperband's bracket).
        A trial's cohort is looked up once it is known and kept, so this costs one look-up
        per newly finished trial."""
        have = len(self._cohorts)
        if have < self.n:
            self._cohorts = np.concatenate([self._cohorts, np.full(self.n - have, -1, dtype=np.int64)])
        unknown = np.flatnonzero(self._cohorts[: self.n] < 0)
        numbers = self.view.numbers()
        for i in unknown:
            c = self.view.cohort_of(int(numbers[i]))
            if c is not None:
                self._cohorts[i] = c
        return self._cohorts[: self.n] == cohort

    def n_used_in(self, keep: np.ndarray) -> int:
        """How many COMPLETE or PRUNED trials ``keep`` holds."""
        return int(np.count_nonzero(keep & (self.cls != SKIP)))


# ---- the split -----------------------------------------------------------------------------
def split(
    facts: TrialFacts, n_below: int, keep: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(good, bad): finished indices, each in trial-number order; with ``keep`` (a mask over
    finished indices), of those trials only."""
    good, bad, _ = split_ranked(facts, n_below, keep)
    return good, bad


def split_ranked(
    facts: TrialFacts, n_below: int, keep: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``split``, and each good trial's rank (0 for the best): complete feasible trials
    first, by their loss with one objective (ties by trial number; with several, in the
    order that chose them), then the pruned and the infeasible ones, in the order that
    chose them."""
    order = facts.by_number()
    if keep is not None:
        order = order[keep[order]]
    cls = facts.cls[order]
    ranked_parts = []  # the good trials, best first
    left = n_below
    complete = order[cls == GOOD]
    if left > 0 and complete.size:
        loss = facts.view.values()[complete] * facts.signs
        if loss.shape[1] == 1:
            chosen = _best_single(loss[:, 0], left)
            chosen = chosen[np.argsort(loss[chosen, 0], kind="stable")]
        else:
            chosen = _best_multi(loss, left, facts.fronts, complete)
        ranked_parts.append(complete[chosen])
        left -= chosen.size
    for kind, key in ((PRUNED, facts.pruned_key), (INFEASIBLE, facts.violation[:, None])):
        members = order[cls == kind]
        if left > 0 and members.size:
            k = key[members]
            ranked = np.lexsort([np.arange(members.size)] + [k[:, c] for c in reversed(range(k.shape[1]))])
            ranked_parts.append(members[ranked[:left]])
            left -= min(left, members.size)
    rank_of = np.full(facts.n, -1, dtype=np.int64)
    if ranked_parts:
        best_first = np.concatenate(ranked_parts)
        rank_of[best_first] = np.arange(best_first.size)
    in_play = cls != SKIP
    good = order[in_play & (rank_of[order] >= 0)]
    bad = order[in_play & (rank_of[order] < 0)]
    return good, bad, rank_of[good]


def _best_single(loss: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k smallest losses, ties broken by position (trial number)."""
    if k >= loss.size:
        return np.arange(loss.size)
    kth = np.partition(loss, k - 1)[k - 1]
    below = np.flatnonzero(loss < kth)
    ties = np.flatnonzero(loss == kth)[: k - below.size]
    return np.sort(np.concatenate([below, ties]))


def _best_multi(loss: np.ndarray, k: int, fronts: GrowingRanks, ids: np.ndarray) -> np.ndarray:
    """Positions of k trials by non-domination rank (``fronts`` keeps them from ask to ask;
    ``ids``: the trials' finished indices); the last rank that does not fit whole is cut by
    greedy hypervolume subset selection, as Optuna does."""
    n = len(loss)
    if k >= n:
        return np.arange(n)
    ranks = fronts.ranks(ids, loss, k)
    counts = np.bincount(ranks[ranks >= 0]) if (ranks >= 0).any() else np.zeros(0, dtype=np.int64)
    full = np.flatnonzero(np.cumsum(counts) <= k)
    last = int(full[-1]) if full.size else -1
    chosen = np.flatnonzero((ranks >= 0) & (ranks <= last))
    if chosen.size < k:
        tie = np.flatnonzero(ranks == last + 1)
        pts = loss[tie]
        worst = pts.max(axis=0)
        ref = np.maximum(1.1 * worst, 0.9 * worst)
        ref[ref == 0] = _EPS
        pick = hssp(pts, k - chosen.size, ref)
        chosen = np.concatenate([chosen, tie[pick]])
    return np.sort(chosen)
