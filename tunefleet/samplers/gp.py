"""GPSampler: Gaussian-process Bayesian optimisation with log expected improvement.

Per ask, the COMPLETE trials that hold every param of the relative space become rows in
[0, 1]^d (``parzen.Axis``: log scale where the distribution asks, discrete params widened
by half a step and rounded back to their grid, a categorical as its choice's index) with
standardised values; a GP (``gp_model``) is conditioned on them, the trials still RUNNING
are added as kriging-believer fantasies, and the point with the largest log EI (times the
probability of feasibility, with constraints) is asked.

What the sampler keeps is a cache that is a function of the StudyView only (the trials'
constraints, the last model, hyperparameters fitted at given trial counts), rebuilt when
it meets another view, so a fresh sampler object asks what a warm one asks. Randomness
comes from ``stream(seed, trial number, names)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunefleet.core.distributions import CategoricalDistribution, Distribution, ParamValue
from tunefleet.core.history import StudyView
from tunefleet.core.settings import Direction
from tunefleet.core.trial import TrialRecord, TrialState
from tunefleet.samplers import gp_model as gpm
from tunefleet.samplers.base import LazyModule, Sampler, random_value, stream, varying
from tunefleet.samplers.parzen import CAT, DISC, Axis
from tunefleet.samplers.tpe_history import usable

optimize: Any = LazyModule("scipy.optimize")
qmc: Any = LazyModule("scipy.stats.qmc")

FIT_AT_MOST = 256  # rows the hyperparameters are fitted on (the posterior uses up to max_trials_in_model)
_N_CANDIDATES_LOG2 = 11  # 2048 scrambled Sobol points per ask
_N_LOCAL = 10  # L-BFGS-B starts (``_maximize``)
_MAX_CHOICES = 32  # categorical choices tried per dim in the local search
_PENDING_FEASIBLE = 0.5  # a pending point lowers the incumbent if its P(feasible) is at least this


def _check_int(name: str, value: Any, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be an int >= {least}, got {value!r}")


def fit_anchor(n: int) -> int:
    """The row count at which the hyperparameters used with n rows were fitted: n itself up
    to 32, then n with all but its 5 leading bits cleared (a refit every 3 to 6% of
    growth). A function of n only, so a fresh sampler fits what a warm one fitted."""
    if n < 32:
        return n
    drop = n.bit_length() - 5
    return (n >> drop) << drop


def spread(key: np.ndarray, feasible: np.ndarray, m: int) -> np.ndarray:
    """Positions of at most m rows: the m // 2 best (feasible first, then by ``key``, ties
    by position), then the rest evenly spread over the others in their order."""
    n = len(key)
    if n <= m:
        return np.arange(n)
    order = np.lexsort((np.arange(n), key, ~feasible))
    best = order[: m // 2]
    rest = np.setdiff1d(np.arange(n), best)
    picks = rest[np.round(np.linspace(0, len(rest) - 1, m - len(best))).astype(np.int64)]
    return np.sort(np.concatenate([best, picks]))


def _standardise(v: np.ndarray) -> tuple[np.ndarray, float, float]:
    finite = np.isfinite(v)
    if not finite.all():  # +-inf: clipped to the finite extremes, as Optuna does
        lo, hi = (v[finite].min(), v[finite].max()) if finite.any() else (0.0, 0.0)
        v = np.clip(np.nan_to_num(v, nan=hi, posinf=hi, neginf=lo), lo, hi)
    mu, sd = float(v.mean()), float(v.std())
    sd = sd if sd > 0 and math.isfinite(sd) else 1.0
    return (v - mu) / sd, mu, sd


class _Constraints:
    """Each finished trial's constraints (NaN-padded rows), read once per trial."""

    def __init__(self, view: StudyView) -> None:
        self.view, self.n, self.rows = view, 0, [np.zeros(0)]

    def sync(self) -> None:
        numbers = self.view.numbers()
        for i in range(self.n, self.view.n_finished):
            c = self.view.trials[int(numbers[i])].constraints
            self.rows.append(np.array(c if c is not None else (), dtype=float))
        self.n = self.view.n_finished

    def matrix(self, idx: np.ndarray) -> np.ndarray:
        rows = [self.rows[i + 1] for i in idx]
        width = max((len(r) for r in rows), default=0)
        out = np.full((len(rows), width), np.nan)
        for j, r in enumerate(rows):
            out[j, : len(r)] = r
        return out


@dataclass
class _Model:
    axes: list[Axis]
    is_cat: np.ndarray
    objective: gpm.GP
    best: float | None  # the best feasible standardised value, None when none is feasible
    incumbent: np.ndarray | None  # the point of the best feasible trial, on the GP's scales
    constraints: list[tuple[gpm.GP, float]]  # (GP, the standardised threshold 0)


class GPSampler(Sampler):
    """Gaussian-process Bayesian optimisation (Rasmussen & Williams, "Gaussian Processes for
    Machine Learning", MIT Press 2006) with an ARD Matern 5/2 kernel as in Snoek, Larochelle
    & Adams, "Practical Bayesian Optimization of Machine Learning Algorithms", NeurIPS 2012,
    and log expected improvement (Ament, Daulton, Eriksson, Balandat & Bakshy, "Unexpected
    Improvements to Expected Improvement for Bayesian Optimization", NeurIPS 2023), close to
    Optuna's GPSampler (same kernel, Hamming distance on categorical params, same priors).

    - Trials RUNNING when another asks are kriging-believer fantasies (Ginsbourger, Le Riche
      & Carraro, "Kriging is well-suited to parallelize optimization", 2010): they join the
      GP, almost noise-free, at their posterior mean, which also lowers the incumbent, so EI
      collapses near them and workers asking at once get points apart.
    - Constraints (a trial's ``constraints``, feasible when all are <= 0) get one GP each,
      and EI is multiplied by the probability of feasibility (Gardner, Kusner, Xu, Weinberger
      & Cunningham, "Bayesian Optimization with Inequality Constraints", ICML 2014); the
      incumbent is the best feasible value; before any trial is feasible, the probability of
      feasibility alone is maximised (and pending trials are not accounted for). A pending
      trial lowers the incumbent only if its predicted probability of feasibility is >= 0.5.
    - With several objectives, every param is sampled at random (no multi-objective GP yet).

    Options, with Optuna's names where Optuna has them:

    - ``n_startup_trials``: random sampling until this many trials are COMPLETE.
    - ``deterministic_objective``: the noise variance is fixed at 1e-6 instead of fitted.
    - ``seed``: the random streams' seed (None means 0).
    - ``max_trials_in_model``: the most COMPLETE trials the GP is conditioned on; beyond, a
      deterministic subset: the best half (feasible first, then by value) plus the others
      evenly spread in finishing order.

    Params outside the relative space (the intersection space without single-valued
    distributions) are sampled at random, as by RandomSampler with the same seed.

    Cost per ask with n = min(COMPLETE trials, max_trials_in_model), d params and c
    constraints: (1 + c) hyperparameter fits on at most 256 rows (about 25 L-BFGS-B steps
    of O(256^3) each), redone only every 3 to 6% of growth (``fit_anchor``); per GP, one
    O(n^3) Cholesky factor, O(2048 n^2) for the Sobol candidates and O(n^2) per step of
    each of the 10 L-BFGS-B runs of the local search (``_maximize``). Measured in 5 dims, one
    BLAS thread, 2 cores: a median ask + tell of about 50 ms at 200 trials and 0.12 s at
    1,000 (``benchmarks/README.md``, part 1).
    """

    def __init__(
        self,
        *,
        n_startup_trials: int = 10,
        deterministic_objective: bool = False,
        seed: int | None = None,
        max_trials_in_model: int = 1000,
    ) -> None:
        _check_int("n_startup_trials", n_startup_trials, 0)
        _check_int("max_trials_in_model", max_trials_in_model, 2)
        if not isinstance(deterministic_objective, bool):
            raise ValueError(
                f"deterministic_objective must be True or False, got {deterministic_objective!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be an int or None, got {seed!r}")
        self.n_startup_trials = n_startup_trials
        self.deterministic_objective = deterministic_objective
        self.seed = seed
        self.max_trials_in_model = max_trials_in_model
        self._seed = 0 if seed is None else seed
        self._use_pending = True  # tests switch it off to measure what the fantasies do
        self._view: StudyView | None = None
        self._constraints: _Constraints | None = None
        self._model_key: tuple[Any, ...] | None = None
        self._model: _Model | None = None
        self._fits: dict[tuple[Any, ...], gpm.Params] = {}

    # ---- the Sampler interface ---------------------------------------------------------
    def infer_relative_search_space(
        self, view: StudyView, trial: TrialRecord
    ) -> dict[str, Distribution]:
        return varying(view.intersection_space())

    def sample_relative(
        self, view: StudyView, trial: TrialRecord, space: dict[str, Distribution]
    ) -> dict[str, ParamValue]:
        out = {k: self.sample_independent(view, trial, k, d) for k, d in space.items() if d.single()}
        todo = varying(space)
        if not todo:
            return out
        model = None
        if len(view.directions) == 1 and view.n_complete >= self.n_startup_trials:
            model = self._model_of(view, todo)
        if model is None:
            return {**out, **{k: self.sample_independent(view, trial, k, d) for k, d in todo.items()}}
        model = self._with_pending(model, view, trial, todo)
        rng = stream(self._seed, trial.number, "gp\x1f" + "\x1f".join(todo))
        best = _maximize(model, rng)
        for (k, d), axis, t in zip(todo.items(), model.axes, best, strict=True):
            out[k] = _decode(d, axis, float(t))
        return out

    def sample_independent(
        self, view: StudyView, trial: TrialRecord, name: str, dist: Distribution
    ) -> ParamValue:
        return random_value(self._seed, trial.number, name, dist)

    # ---- the model ---------------------------------------------------------------------
    def _sync(self, view: StudyView) -> _Constraints:
        if self._view is not view or self._constraints is None:
            self._view, self._constraints = view, _Constraints(view)
            self._model_key, self._model, self._fits = None, None, {}
        self._constraints.sync()
        return self._constraints

    def _model_of(self, view: StudyView, space: dict[str, Distribution]) -> _Model | None:
        """The GPs of the COMPLETE trials that hold every param of ``space``, or None if
        there are none. Cached until another trial finishes."""
        facts = self._sync(view)
        key = (view.n_finished, tuple(space.items()))
        if self._model_key == key:
            return self._model
        axes = [Axis.of(d) for d in space.values()]
        cols = self._columns(view, space)
        keep = (view.states() == int(TrialState.COMPLETE)) & ~np.isnan(cols).any(axis=1)
        idx = np.flatnonzero(keep)
        model = None
        if len(idx):
            model = self._build(view, facts, space, axes, cols[idx], idx)
        self._model_key, self._model = key, model
        return model

    @staticmethod
    def _columns(view: StudyView, space: dict[str, Distribution]) -> np.ndarray:
        """(finished trials, params): internal values, NaN where unusable."""
        inter = view.intersection_space()
        numbers, states = view.numbers(), view.states()
        out = np.full((view.n_finished, len(space)), np.nan)
        for j, (name, dist) in enumerate(space.items()):
            col = view.param(name)
            if inter.get(name) == dist:  # every COMPLETE trial drew it from dist
                out[:, j] = col
                continue
            for i in np.flatnonzero(~np.isnan(col) & (states == int(TrialState.COMPLETE))):
                out[i, j] = usable(view.trials[int(numbers[i])], name, dist)
        return out

    def _build(self, view: StudyView, facts: _Constraints, space: dict[str, Distribution],
               axes: list[Axis], raw: np.ndarray, idx: np.ndarray) -> _Model:
        sign = 1.0 if view.directions[0] == Direction.MINIMIZE else -1.0
        loss = sign * view.values()[idx, 0]
        cons = facts.matrix(idx)
        feasible = ~np.any(~(cons <= 0), axis=1) if cons.shape[1] else np.ones(len(idx), dtype=bool)
        x = np.column_stack([_to_unit(a, raw[:, j]) for j, a in enumerate(axes)])
        is_cat = np.array([a.kind == CAT for a in axes])
        # the rows the GP is conditioned on, and (fit_anchor) those its hyperparameters fit
        rows = spread(np.nan_to_num(loss, nan=np.inf), feasible, self.max_trials_in_model)
        space_key = tuple(space.items())
        y, _, _ = _standardise(loss[rows])
        params = self._fit(("objective", space_key), x, loss, feasible, is_cat)
        objective = gpm.GP(x[rows], y, is_cat, params)
        best, incumbent = None, None
        if feasible[rows].any():  # (the first of equal bests, as ``spread`` orders rows)
            at = int(np.argmin(np.where(feasible[rows], y, np.inf)))
            best, incumbent = float(y[at]), x[rows][at]
        constraints = []
        for c in range(cons.shape[1]):
            ok = np.flatnonzero(np.isfinite(cons[:, c]))
            if not len(ok):
                continue
            sub = ok[spread(cons[ok, c], np.ones(len(ok), dtype=bool), self.max_trials_in_model)]
            yc, mu, sd = _standardise(cons[sub, c])
            pc = self._fit(("constraint", c, space_key), x[ok], cons[ok, c], np.ones(len(ok), dtype=bool),
                           is_cat)
            constraints.append((gpm.GP(x[sub], yc, is_cat, pc), -mu / sd))
        return _Model(axes, is_cat, objective, best, incumbent, constraints)

    def _fit(self, key: tuple[Any, ...], x: np.ndarray, v: np.ndarray, feasible: np.ndarray,
             is_cat: np.ndarray) -> gpm.Params:
        """Hyperparameters fitted on the first ``fit_anchor(n)`` rows (at most FIT_AT_MOST of
        them, chosen by ``spread``): the same whenever the same trials have finished."""
        a = fit_anchor(len(v))
        full = (*key, a)
        if full not in self._fits:
            sub = spread(np.nan_to_num(v[:a], nan=np.inf), feasible[:a], FIT_AT_MOST)
            y, _, _ = _standardise(v[:a][sub])
            if len(self._fits) > 32:
                self._fits.clear()
            self._fits[full] = gpm.fit(x[:a][sub], y, is_cat, deterministic=self.deterministic_objective)
        return self._fits[full]

    def _with_pending(self, model: _Model, view: StudyView, trial: TrialRecord,
                      space: dict[str, Distribution]) -> _Model:
        """The model with the RUNNING trials (but ``trial``) as kriging-believer fantasies."""
        if not self._use_pending or model.best is None:
            return model
        rows = []
        for record in view.running.values():
            if record.number == trial.number:
                continue
            row = [usable(record, k, d) for k, d in space.items()]
            if not any(math.isnan(v) for v in row):
                rows.append(row)
        if not rows:
            return model
        raw = np.array(rows, dtype=float)
        xp = np.column_stack([_to_unit(a, raw[:, j]) for j, a in enumerate(model.axes)])
        mean, _ = model.objective.predict(xp)
        lower = mean
        if model.constraints:
            lpof = sum(gpm.log_pof(*gp.predict(xp), t) for gp, t in model.constraints)
            lower = mean[np.asarray(lpof) >= math.log(_PENDING_FEASIBLE)]
        best = min(model.best, float(lower.min())) if len(lower) else model.best
        return _Model(model.axes, model.is_cat, model.objective.with_fantasies(xp, mean), best,
                      model.incumbent, model.constraints)


# ---- the acquisition and its maximisation ------------------------------------------------------
def _to_unit(axis: Axis, v: np.ndarray) -> np.ndarray:
    return v.astype(float) if axis.kind == CAT else axis.to_unit(v)


def _decode(dist: Distribution, axis: Axis, t: float) -> ParamValue:
    if isinstance(dist, CategoricalDistribution):
        return dist.choices[int(t)]
    return dist.to_external(float(axis.from_unit(np.array([t]))[0]))


def _snap(x: np.ndarray, axes: list[Axis]) -> np.ndarray:
    """Unit points onto the grid: a categorical dim's u in [0, 1) to its index, a discrete
    dim to the centre of its value's cell."""
    x = x.copy()
    for j, a in enumerate(axes):
        if a.kind == CAT:
            x[:, j] = np.minimum(np.floor(x[:, j] * a.n_choices), a.n_choices - 1)
        elif a.kind == DISC:
            x[:, j] = a.to_unit(a.from_unit(x[:, j]))
    return x


def acquisition(model: _Model, xs: np.ndarray) -> np.ndarray:
    """log EI (or 0 before any feasible trial) plus the log probabilities of feasibility."""
    with np.errstate(all="ignore"):
        out = np.zeros(len(xs))
        if model.best is not None:
            out += gpm.log_ei(*model.objective.predict(xs), model.best)
        for gp, t in model.constraints:
            out += gpm.log_pof(*gp.predict(xs), t)
    return np.where(np.isnan(out), -np.inf, out)


def _acquisition_grad(model: _Model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The acquisition at the rows of ``x`` and its gradients, (b,) and (b, d)."""
    value, grad = np.zeros(len(x)), np.zeros(x.shape)
    with np.errstate(all="ignore"):
        if model.best is not None:
            m, v, dm, dv = model.objective.predict_grad(x)
            a, am, av = gpm.log_ei_grad(m, v, model.best)
            value, grad = value + a, grad + am[:, None] * dm + av[:, None] * dv
        for gp, t in model.constraints:
            m, v, dm, dv = gp.predict_grad(x)
            a, am, av = gpm.log_pof_grad(m, v, t)
            value, grad = value + a, grad + am[:, None] * dm + av[:, None] * dv
    return value, grad


def _maximize(model: _Model, rng: np.random.Generator) -> np.ndarray:
    """The best of 2048 scrambled Sobol points and of 10 points improved from starts. The
    starts, as Optuna's: the best Sobol point, others drawn by roulette (in proportion to
    their EI, without the best), and the best trial so far. Each start is improved by its
    own L-BFGS-B run on the numeric dims (discrete dims rounded after), then by trying the
    choices of each categorical dim in turn. Measured against one L-BFGS-B run on the sum
    of the top 10 points' acquisitions, over 20 seeds at 100 trials (``benchmarks/README.md``):
    Ackley-10 from 11.2 to 8.3 (Optuna 7.8)."""
    axes, d = model.axes, len(model.axes)
    cand = _snap(qmc.Sobol(d, scramble=True, rng=rng).random_base2(_N_CANDIDATES_LOG2), axes)
    vals = acquisition(model, cand)
    top = int(np.argmax(vals))
    with np.errstate(all="ignore"):
        odds = np.exp(vals - vals[top])
    odds[top] = 0.0
    odds[~np.isfinite(odds)] = 0.0
    n_drawn = min(_N_LOCAL - 1 - (model.incumbent is not None), int(np.count_nonzero(odds)))
    drawn = (rng.choice(len(cand), size=n_drawn, replace=False, p=odds / odds.sum()) if n_drawn
             else np.zeros(0, dtype=np.int64))
    starts = cand[np.concatenate([[top], drawn]).astype(np.int64)]
    if model.incumbent is not None:
        starts = np.vstack([starts, model.incumbent])
    num = np.flatnonzero(~model.is_cat)
    if len(num):
        starts = np.vstack([_local_numeric(model, x0, num) for x0 in starts])
    for j in np.flatnonzero(model.is_cat):
        k = axes[j].n_choices
        choices = np.arange(k) if k <= _MAX_CHOICES else rng.choice(k, _MAX_CHOICES, replace=False)
        tries = np.repeat(starts[:, None, :], len(choices), axis=1)  # (starts, choices, d)
        tries[:, :, j] = choices
        v = acquisition(model, tries.reshape(-1, d)).reshape(len(starts), len(choices))
        starts = tries[np.arange(len(starts)), np.argmax(v, axis=1)]
    final = acquisition(model, starts)
    i = int(np.argmax(final))
    return starts[i] if final[i] > vals.max() else cand[top]


def _local_numeric(model: _Model, x0: np.ndarray, num: np.ndarray) -> np.ndarray:
    """x0 (d,) with its numeric dims ``num`` moved up the acquisition by L-BFGS-B."""
    x = x0[None, :].copy()

    def f(z: np.ndarray) -> tuple[float, np.ndarray]:
        x[0, num] = z
        v, g = _acquisition_grad(model, x)
        if not (np.isfinite(v[0]) and np.isfinite(g[0]).all()):
            return 1e10, np.zeros(len(num))
        return -float(v[0]), -g[0, num]

    with np.errstate(all="ignore"):
        res = optimize.minimize(f, x0[num], jac=True, method="L-BFGS-B",
                                bounds=[(0.0, 1.0)] * len(num), options={"maxiter": 200})
    out = x0[None, :].copy()
    if np.all(np.isfinite(res.x)):
        out[0, num] = np.clip(res.x, 0.0, 1.0)
    return _snap(out, model.axes)[0]
