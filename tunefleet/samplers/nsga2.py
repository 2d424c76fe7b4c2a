"""NSGAIISampler: the elitist genetic algorithm NSGA-II, with Optuna's options and defaults.

Generations are a function of the StudyView, replayed from it (``Generations``): trial k
was handed out when the first ``k.seen_finished`` trials of the view's finishing order
had finished, and belongs to the generation open then. Generation g closes when
``population_size`` of its trials are COMPLETE (FAIL and PRUNED do not count); at that
moment the parents of generation g + 1 are chosen by elitist selection (non-dominated
sort, then crowding distance) from the parents of g and every trial that COMPLETEd since
g opened: g's members and the stragglers of older generations, which Optuna drops. A
trial added with ``Study.add_trial`` was never handed out: it joins the generation open
when it finished, so a warm start becomes generations too.

Every ask while a generation is open draws a new child from that generation's parents
with its own stream (seed, trial number), so any number of workers may ask at once: the
generation closes when the first ``population_size`` of them come back.
"""

from __future__ import annotations

import bisect
import difflib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunefleet.core.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    ParamValue,
)
from tunefleet.core.history import StudyView
from tunefleet.core.pareto import crowding_distance, nondominated_ranks
from tunefleet.core.settings import Direction
from tunefleet.core.trial import TrialRecord, TrialState
from tunefleet.samplers.base import Sampler, random_value, stream, uniform_in, varying

# name: how many parents the crossover takes
CROSSOVERS = {"uniform": 2, "blxalpha": 2, "sbx": 2, "vsbx": 2, "undx": 3, "spx": 3}
_STREAM = "nsga2\x1f"  # the name of a child's stream: no param name holds \x1f


@dataclass(frozen=True)
class Parents:
    """A generation's parent population: finished indices (the view's finishing order), each
    one's total constraint violation, and its rank and crowding distance in the pool it was
    selected from."""

    idx: np.ndarray
    violation: np.ndarray
    rank: np.ndarray
    crowd: np.ndarray


_NONE = Parents(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0))


def violation(constraints: tuple[float, ...] | None) -> float:
    """The total violation of a trial's constraints (each feasible when <= 0); NaN is infinite."""
    return float(sum(math.inf if math.isnan(c) else c for c in constraints or () if not c <= 0))


class Generations:
    """The generations of a study, replayed from its view and kept up to date as trials
    finish; never more than a function of the view (rebuild it for another view)."""

    def __init__(self, view: StudyView, population_size: int) -> None:
        self.view = view
        self.size = population_size
        self.signs = np.array([1.0 if d == Direction.MINIMIZE else -1.0 for d in view.directions])
        self.n = 0  # finished trials taken in
        self.closed_at: list[int] = []  # generation g closed when finished trial closed_at[g] came in
        self.parents: list[Parents] = [_NONE]  # by generation; generation 0 has none
        self._members = 0  # COMPLETE trials of the open generation
        self._pending: list[int] = []  # COMPLETE trials since the open generation opened
        self._pending_violation: list[float] = []

    def generation_at(self, seen: int) -> int:
        """The generation open when ``seen`` trials had finished."""
        return bisect.bisect_left(self.closed_at, seen)

    def sync(self) -> None:
        """Take in the trials that finished since the last call."""
        view = self.view
        numbers = view.numbers()
        for t in range(self.n, view.n_finished):
            record = view.trials[int(numbers[t])]
            if record.state != TrialState.COMPLETE:
                continue
            self._pending.append(t)
            self._pending_violation.append(violation(record.constraints))
            if self.generation_at(record.seen_finished) == len(self.closed_at):
                self._members += 1
                if self._members >= self.size:
                    self._close(t)
        self.n = view.n_finished

    def _close(self, t: int) -> None:
        last = self.parents[-1]
        pool = np.concatenate([last.idx, np.array(self._pending, dtype=np.int64)])
        pen = np.concatenate([last.violation, np.array(self._pending_violation)])
        self.parents.append(select(self.view.values()[pool] * self.signs, pen, pool, self.size))
        self.closed_at.append(t)
        self._members = 0
        self._pending, self._pending_violation = [], []


def select(loss: np.ndarray, penalty: np.ndarray, pool: np.ndarray, size: int) -> Parents:
    """NSGA-II's elitist selection of ``size`` rows of ``pool`` (losses ``loss``, total
    violations ``penalty``): whole fronts by constrained non-domination rank while they fit,
    then the least crowded rows of the next one."""
    ranks = nondominated_ranks(loss, penalty=penalty)
    chosen, rank, crowd = [], [], []
    taken = 0
    for r in range(int(ranks.max()) + 1):
        rows = np.flatnonzero(ranks == r)
        dist = crowding_distance(loss[rows])
        if taken + len(rows) > size:
            keep = np.lexsort((rows, -dist))[: size - taken]  # least crowded first; ties by pool order
            rows, dist = rows[keep], dist[keep]
        chosen.append(rows)
        rank.append(np.full(len(rows), r))
        crowd.append(dist)
        taken += len(rows)
        if taken >= size:
            break
    rows = np.concatenate(chosen)
    return Parents(pool[rows], penalty[rows], np.concatenate(rank), np.concatenate(crowd))


def _check_prob(name: str, value: Any, *, none_ok: bool = False) -> None:
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        extra = " or None" if none_ok else ""
        raise ValueError(f"{name} must be a probability in [0, 1]{extra}, got {value!r}")


class NSGAIISampler(Sampler):
    """NSGA-II (Deb, Pratap, Agarwal & Meyarivan, "A fast and elitist multiobjective genetic
    algorithm: NSGA-II", IEEE Trans. Evol. Comput. 6(2), 2002), with Optuna's options.

    A child is made from the parents of its generation: a binary tournament on (rank,
    crowding distance) picks each parent (Deb's crowded-comparison operator; Optuna's
    tournament looks at domination only), then, with ``crossover_prob``, a crossover, else
    a copy of one parent; then each param is resampled uniformly with ``mutation_prob``,
    and the child is repaired to its distributions (clipped, rounded to ints and steps).
    Numeric params cross over in [0, 1] of their (log) range; categorical params by a
    uniform swap of the first and last parents' choices.

    Constraints are read from the trials (``record.constraints``; feasible when every
    value is <= 0) with Deb's constrained domination: a feasible trial beats an
    infeasible one, and of two infeasible trials the one with the smaller total violation
    wins. One objective works too: trials are then ranked by value.

    Options, with Optuna's names and defaults:

    - ``population_size``: trials per generation, and parents kept by selection.
    - ``mutation_prob``: the probability to resample each param; None is 1 / the number
      of params crossed over.
    - ``crossover``: one of ``CROSSOVERS``, with Optuna's default settings: "uniform"
      (each param from either parent, Syswerda 1989), "blxalpha" (alpha 0.5, Eshelman &
      Schaffer 1993), "sbx" (simulated binary crossover, Deb & Agrawal, "Simulated binary
      crossover for continuous search space", Complex Systems 9, 1995; eta 20 with several
      objectives, 2 with one, bounded as Optuna does), "vsbx" (Ballester & Carter 2004),
      "undx" (Ono & Kobayashi 1997; three parents), "spx" (Tsutsui, Yamamura & Higuchi
      1999; three parents). A name rather than an object, so that the options stay JSON.
    - ``crossover_prob``: the probability to cross over rather than copy a parent.
    - ``swapping_prob``: the probability to take each param (and each categorical param
      whatever the crossover) from the other parent.
    - ``seed``: the random streams' seed (None means 0).
    """

    def __init__(
        self,
        *,
        population_size: int = 50,
        mutation_prob: float | None = None,
        crossover: str = "uniform",
        crossover_prob: float = 0.9,
        swapping_prob: float = 0.5,
        seed: int | None = None,
    ) -> None:
        if crossover not in CROSSOVERS:
            close = difflib.get_close_matches(str(crossover), CROSSOVERS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"unknown crossover {crossover!r}{hint}; the known ones are {', '.join(CROSSOVERS)}"
            )
        need = max(2, CROSSOVERS[crossover])
        size = population_size
        if isinstance(size, bool) or not isinstance(size, int) or size < need:
            raise ValueError(
                f"population_size must be an int >= {need} (crossover {crossover!r} takes "
                f"{CROSSOVERS[crossover]} parents), got {population_size!r}"
            )
        _check_prob("mutation_prob", mutation_prob, none_ok=True)
        _check_prob("crossover_prob", crossover_prob)
        _check_prob("swapping_prob", swapping_prob)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be an int or None, got {seed!r}")
        self.population_size = population_size
        self.mutation_prob = None if mutation_prob is None else float(mutation_prob)
        self.crossover = crossover
        self.crossover_prob = float(crossover_prob)
        self.swapping_prob = float(swapping_prob)
        self.seed = seed
        self._seed = 0 if seed is None else seed
        self._gens: Generations | None = None

    # ---- the Sampler interface ---------------------------------------------------------
    def infer_relative_search_space(
        self, view: StudyView, trial: TrialRecord
    ) -> dict[str, Distribution]:
        """The intersection space, without the params that can take one value only."""
        return varying(view.intersection_space())

    def sample_relative(
        self, view: StudyView, trial: TrialRecord, space: dict[str, Distribution]
    ) -> dict[str, ParamValue]:
        gens = self._gens_of(view)
        parents = gens.parents[gens.generation_at(self._seen(view, trial))]
        out: dict[str, ParamValue] = {}
        if len(parents.idx) >= CROSSOVERS[self.crossover]:
            out = self._child(view, trial, space, parents)
        return {k: out[k] if k in out else self._random(trial, k, d) for k, d in space.items()}

    def sample_independent(
        self, view: StudyView, trial: TrialRecord, name: str, dist: Distribution
    ) -> ParamValue:
        return self._random(trial, name, dist)

    # ---- for tests and for the curious ---------------------------------------------------
    def generation_of(self, view: StudyView, trial: TrialRecord) -> int:
        """The generation ``trial`` belongs to (or would, if it were asked now)."""
        return self._gens_of(view).generation_at(self._seen(view, trial))

    def parent_numbers(self, view: StudyView, generation: int) -> list[int]:
        """The trial numbers of the parents of ``generation`` (none for generation 0)."""
        gens = self._gens_of(view)
        return sorted(int(n) for n in view.numbers()[gens.parents[generation].idx])

    # ---- helpers -----------------------------------------------------------------------
    def _gens_of(self, view: StudyView) -> Generations:
        if self._gens is None or self._gens.view is not view:
            self._gens = Generations(view, self.population_size)
        self._gens.sync()
        return self._gens

    @staticmethod
    def _seen(view: StudyView, trial: TrialRecord) -> int:
        """How many trials had finished when ``trial`` was handed out (now, if it is being)."""
        if trial.number in view.running or trial.state.is_finished():
            return trial.seen_finished
        return view.n_finished

    def _random(self, trial: TrialRecord, name: str, dist: Distribution) -> ParamValue:
        return random_value(self._seed, trial.number, name, dist)

    def _child(
        self, view: StudyView, trial: TrialRecord, space: dict[str, Distribution], parents: Parents
    ) -> dict[str, ParamValue]:
        rng = stream(self._seed, trial.number, _STREAM)
        numbers = view.numbers()
        crossing = rng.random() < self.crossover_prob
        if crossing:
            picked: list[int] = []
            for _ in range(CROSSOVERS[self.crossover]):
                picked.append(_tournament(rng, parents, picked))
        else:
            picked = [int(rng.integers(len(parents.idx)))]
        records = [view.trials[int(numbers[parents.idx[i]])] for i in picked]
        names = [k for k, d in space.items()
                 if not d.single() and all(r.distributions.get(k) == d for r in records)]
        child: dict[str, ParamValue] = {k: records[0].params[k] for k in names}
        if crossing:
            child.update(self._cross(rng, records, {k: space[k] for k in names},
                                     multi=len(view.directions) > 1))
        p = self.mutation_prob if self.mutation_prob is not None else 1.0 / max(1, len(names))
        for k in names:
            if rng.random() < p:
                child[k] = self._random(trial, k, space[k])
        return child

    def _cross(
        self, rng: np.random.Generator, records: list[TrialRecord], space: dict[str, Distribution],
        *, multi: bool,
    ) -> dict[str, ParamValue]:
        out: dict[str, ParamValue] = {}
        numeric = [k for k, d in space.items() if not isinstance(d, CategoricalDistribution)]
        swap = [k for k in space if k not in numeric or self.crossover == "uniform"]
        for k in swap:
            out[k] = records[-1 if rng.random() >= self.swapping_prob else 0].params[k]
        numeric = [k for k in numeric if k not in out]
        if numeric:
            x = np.array([[to_unit(space[k], r.params[k]) for k in numeric] for r in records])
            u = np.clip(CROSS[self.crossover](rng, x, multi), 0.0, 1.0)
            out.update({k: from_unit(space[k], float(u[i])) for i, k in enumerate(numeric)})
        return out


def _tournament(rng: np.random.Generator, parents: Parents, taken: list[int]) -> int:
    """A binary tournament on (rank, crowding distance) among the parents not yet taken."""
    left = np.setdiff1d(np.arange(len(parents.idx)), taken)
    i, j = (int(left[k]) for k in rng.integers(len(left), size=2))
    if (parents.rank[j], -parents.crowd[j]) < (parents.rank[i], -parents.crowd[i]):
        return j
    return i


# ---- [0, 1] positions of numeric values, and back -------------------------------------------
def to_unit(dist: Distribution, value: Any) -> float:
    """Where ``value`` sits in [0, 1] of ``dist``'s (log) range, as ``uniform_in`` lays it out
    (an int or a step value at the middle of its cell)."""
    x = float(value)
    if dist.single():
        return 0.5
    if isinstance(dist, FloatDistribution):
        if dist.log:
            return math.log(x / dist.low) / math.log(dist.high / dist.low)
        if dist.step is not None:
            n = round((dist.high - dist.low) / dist.step)
            return (round((x - dist.low) / dist.step) + 0.5) / (n + 1)
        return (x - dist.low) / (dist.high - dist.low)
    assert isinstance(dist, IntDistribution)
    if dist.log:
        lo, hi = math.log(dist.low - 0.5), math.log(dist.high + 0.5)
        return (math.log(x) - lo) / (hi - lo)
    n = (dist.high - dist.low) // dist.step
    return ((x - dist.low) // dist.step + 0.5) / (n + 1)


def from_unit(dist: Distribution, u: float) -> ParamValue:
    """The value of ``dist`` at ``u`` in [0, 1]: clipped to the range and rounded to ints and
    steps (the repair after a crossover)."""
    v = uniform_in(dist, min(max(u, 0.0), 1.0))
    if isinstance(dist, FloatDistribution) and isinstance(v, float):
        return min(max(v, dist.low), dist.high)
    return v


# ---- crossovers of numeric params in [0, 1]: parents (k, d) -> one child (d,) -----------------
def _uniform(rng: np.random.Generator, x: np.ndarray, multi: bool) -> np.ndarray:
    raise AssertionError("uniform crossover takes values from the parents as they are")


def _blxalpha(rng: np.random.Generator, x: np.ndarray, multi: bool, alpha: float = 0.5) -> np.ndarray:
    lo, hi = x.min(axis=0), x.max(axis=0)
    d = alpha * (hi - lo)
    return lo - d + rng.random(x.shape[1]) * (hi - lo + 2 * d)


def _sbx(rng: np.random.Generator, x: np.ndarray, multi: bool) -> np.ndarray:
    """Simulated binary crossover bounded to [0, 1] (Deb & Agrawal 1995, with the bounds as in
    Deb's and Optuna's code); one of the two children, per param either a child's or a
    parent's value, as Optuna."""
    eta = 20.0 if multi else 2.0
    lo, hi = x.min(axis=0), x.max(axis=0)
    diff = np.clip(hi - lo, 1e-10, None)
    u = rng.random(x.shape[1])

    def betaq(beta: np.ndarray) -> np.ndarray:
        alpha = 2 - np.power(beta, -(eta + 1))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(u <= 1 / alpha, np.power(u * alpha, 1 / (eta + 1)),
                            np.power(1 / (2 - u * alpha), 1 / (eta + 1)))

    c1 = 0.5 * (lo + hi - betaq(1 + 2 * lo / diff) * diff)
    c2 = 0.5 * (lo + hi + betaq(1 + 2 * (1 - hi) / diff) * diff)
    return _mix(rng, c1, c2, x[0], x[1])


def _vsbx(rng: np.random.Generator, x: np.ndarray, multi: bool) -> np.ndarray:
    eta = 20.0 if multi else 2.0
    u = rng.random(x.shape[1])
    b1 = np.power(1 / np.maximum(2 * u, 1e-10), 1 / (eta + 1))
    b2 = np.power(1 / np.maximum(2 * (1 - u), 1e-10), 1 / (eta + 1))
    p1, p2 = x[0], x[1]
    if rng.random() <= 0.5:
        c1 = 0.5 * ((1 + b1) * p1 + (1 - b2) * p2)
    else:
        c1 = 0.5 * ((1 - b1) * p1 + (1 + b2) * p2)
    if rng.random() <= 0.5:
        c2 = 0.5 * ((3 - b1) * p1 - (1 - b2) * p2)
    else:
        c2 = 0.5 * (-(1 - b1) * p1 + (3 - b2) * p2)
    return _mix(rng, c1, c2, p1, p2)


def _mix(rng: np.random.Generator, c1: np.ndarray, c2: np.ndarray, p1: np.ndarray,
         p2: np.ndarray) -> np.ndarray:
    """Optuna's SBX ending: per param a child's gene (or, half the time, a parent's), either
    way round, then one of the two children."""
    d = len(c1)
    use_child = rng.random(d) < 0.5
    flip = rng.random(d) < 0.5
    a, b = np.where(use_child, c1, p1), np.where(use_child, c2, p2)
    first, second = np.where(flip, b, a), np.where(flip, a, b)
    return first if rng.random() < 0.5 else second


def _undx(rng: np.random.Generator, x: np.ndarray, multi: bool) -> np.ndarray:
    """Unimodal normal distribution crossover (Ono & Kobayashi 1997): along the line of the
    first two parents, and off it by the third parent's distance to that line."""
    n = x.shape[1]
    mid, d = (x[0] + x[1]) / 2, x[0] - x[1]
    child = mid + rng.normal(0.0, 0.5) * d
    if n > 1:
        e = -d / max(float(np.linalg.norm(d)), 1e-10)
        basis = np.identity(n)
        if np.any(e):
            basis[0] = e
        q = np.linalg.qr(basis.T)[0].T[1:]  # an orthonormal basis of the line's complement
        v = x[2] - x[0]
        dist = float(np.linalg.norm(v - np.dot(v, e) * e))
        child = child + dist * rng.normal(0.0, 0.35 / math.sqrt(n), size=n - 1) @ q
    return child


def _spx(rng: np.random.Generator, x: np.ndarray, multi: bool) -> np.ndarray:
    """Simplex crossover (Tsutsui, Yamamura & Higuchi 1999), epsilon sqrt(d + 2)."""
    k = len(x)
    g = x.mean(axis=0)
    r = np.power(rng.random(k - 1), 1 / (np.arange(k - 1) + 1))
    xs = g + math.sqrt(x.shape[1] + 2) * (x - g)
    c = np.zeros(x.shape[1])
    for i in range(1, k):
        c = r[i - 1] * (xs[i - 1] - xs[i] + c)
    return xs[-1] + c


CROSS = {"uniform": _uniform, "blxalpha": _blxalpha, "sbx": _sbx, "vsbx": _vsbx, "undx": _undx,
         "spx": _spx}
