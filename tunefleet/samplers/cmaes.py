"""CmaEsSampler: CMA-ES over the numeric params, with Optuna's options and a history replay.

The CMA state is a function of the StudyView: the sampler replays the study (``_Replay``),
trial by trial in number order, taking in before each trial's ask the trials that had
finished by then (the first ``record.seen_finished`` of the view's finishing order). What
the sampler keeps is that replay, carried forward as the study grows and rebuilt when it
meets another view; a new sampler object therefore asks what a warm one asks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunefleet.core.distributions import Distribution, FloatDistribution, IntDistribution, ParamValue
from tunefleet.core.history import StudyView
from tunefleet.core.settings import Direction
from tunefleet.core.trial import TrialRecord, TrialState
from tunefleet.samplers.base import Sampler, random_value, stream, varying
from tunefleet.samplers.cmaes_state import Cma, Space, default_popsize
from tunefleet.samplers.tpe import TPESampler

RESTART_STRATEGIES = (None, "ipop", "bipop")
INDEPENDENT_SAMPLERS = ("tpe", "random")
_DRAW = "\x1fcma-es"  # the stream of a trial's CMA sample
_RESTART = "\x1fcma-es restart"  # the stream of a run's start point (and BIPOP's draws)
_SIGMA_MIN = 1e-10


@dataclass(frozen=True)
class CmaStatus:
    """Where the replayed CMA-ES stands: ``active`` is False before it starts (startup trials,
    fewer than two numeric params, several objectives); ``generation`` counts the updates of
    the current run, ``restarts`` the runs restarted in the current space; ``mean`` is in
    the [0, 1]-normalised space, params in ``names`` order."""

    active: bool
    names: tuple[str, ...] = ()
    generation: int = 0
    popsize: int = 0
    restarts: int = 0
    sigma: float = 0.0
    mean: tuple[float, ...] = ()


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_int(name: str, value: Any, least: int, *, none: bool = False) -> None:
    if none and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        extra = " or None" if none else ""
        raise ValueError(f"{name} must be an int >= {least}{extra}, got {value!r}")


class CmaEsSampler(Sampler):
    """CMA-ES (Hansen, "The CMA Evolution Strategy: A Tutorial", arXiv:1604.00772), with
    restarts by IPOP (Auger & Hansen, "A Restart CMA Evolution Strategy With Increasing
    Population Size", CEC 2005) or BIPOP (Hansen, "Benchmarking a BI-Population CMA-ES on
    the BBOB-2009 Function Testbed", GECCO 2009 workshop), the separable variant sep-CMA-ES
    (Ros & Hansen, "A Simple Modification in CMA-ES Achieving Linear Time and Space
    Complexity", PPSN 2008), CMA-ES with margin for int and stepped params (Hamano, Saito,
    Nomura & Shirakawa, "CMA-ES with Margin: Lower-Bounding Marginal Probability for
    Mixed-Integer Black-Box Optimization", GECCO 2022) and learning-rate adaptation (Nomura,
    Akimoto & Ono, GECCO 2023). The update maths are ours in numpy (``cmaes_state``), with
    the constants and termination criteria of the ``cmaes`` package that Optuna uses.

    Options, with Optuna's names:

    - ``x0``: the start point, {name: value} (a missing name starts at its centre, a value
      outside its range at the nearest end); None is the centre of the space. Restarts start
      at a uniform random point, as Optuna did.
    - ``sigma0``: the initial step size in the [0, 1]-normalised space; None is 1/6.
    - ``n_startup_trials``: the independent sampler samples every param until this many
      trials are COMPLETE (and PRUNED, with ``consider_pruned_trials``).
    - ``restart_strategy``: None, "ipop" or "bipop", when a run meets the termination
      criteria; ``inc_popsize`` multiplies the population size at each (large) restart.
      BIPOP's small runs also shrink sigma0 by 10^(-2U), as in Hansen 2009.
    - ``popsize``: None is 4 + floor(3 ln d).
    - ``consider_pruned_trials``: a PRUNED trial counts with its last reported value.
    - ``use_separable_cma``, ``with_margin``, ``lr_adapt``: the variants above (``lr_adapt``
      goes with neither of the other two, nor do those go together, as in Optuna).
    - ``independent_sampler``: what samples the params outside the CMA space (and every
      param before CMA-ES starts): "tpe" (the default, ours: a ``TPESampler`` with
      ``multivariate=False`` and this seed, which is random search for its first 10
      trials) or "random" (Optuna's default). A name, not a sampler object, so that a
      study's options stay JSON and TOML.
    - ``seed``: the random streams' seed (None means 0).

    The CMA space is the intersection space (params every COMPLETE trial used) without
    categorical and single-valued params; with fewer than two such params, or several
    objectives (Optuna's CMA-ES takes one), every param is sampled by the independent
    sampler, and so are the params outside the CMA space (the categorical ones still at
    ask, so a worker needs no round trip for them). Optuna samples them at random; with
    "tpe" a conditional or categorical param learns from the trials that used it. When the space
    changes, a new run starts in it (Optuna keeps its optimizer and samples at random once
    the dimension differs).

    Trial k's generation is the one open when it was asked; its point is drawn from that
    generation's state with the stream ``(seed, k)``, so workers asking at once get distinct
    points. A generation is updated with the first ``popsize`` of its trials to finish (Optuna
    takes the lowest-numbered ones); its other trials, finishing later, are dropped, as in
    Optuna: with many more workers than ``popsize``, most evaluations of a generation go
    unused, and a larger ``popsize`` (or IPOP) uses them better. A trial whose params are not
    the point it was handed (startup, enqueued or added trials, retries) is not used for the
    update; such trials count towards ``n_startup_trials`` only. The update uses the points
    as drawn in the normalised space (before rounding to the grid). A run whose step size
    underflows (a long run without restarts) starts again from its mean with ``sigma0``.
    """

    def __init__(
        self,
        *,
        x0: dict[str, float] | None = None,
        sigma0: float | None = None,
        n_startup_trials: int = 1,
        restart_strategy: str | None = None,
        popsize: int | None = None,
        inc_popsize: int = 2,
        consider_pruned_trials: bool = False,
        use_separable_cma: bool = False,
        with_margin: bool = False,
        lr_adapt: bool = False,
        independent_sampler: str = "tpe",
        seed: int | None = None,
    ) -> None:
        if x0 is not None and not (
            isinstance(x0, dict) and all(isinstance(k, str) and _is_number(v) for k, v in x0.items())
        ):
            raise ValueError(f"x0 must be a dict of param names to finite numbers or None, got {x0!r}")
        if sigma0 is not None and not (_is_number(sigma0) and sigma0 > 0):
            raise ValueError(f"sigma0 must be a number > 0 or None, got {sigma0!r}")
        _check_int("n_startup_trials", n_startup_trials, 0)
        if restart_strategy not in RESTART_STRATEGIES:
            raise ValueError(f"restart_strategy must be None, 'ipop' or 'bipop', got {restart_strategy!r}")
        _check_int("popsize", popsize, 2, none=True)
        _check_int("inc_popsize", inc_popsize, 1)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be an int or None, got {seed!r}")
        if independent_sampler not in INDEPENDENT_SAMPLERS:
            raise ValueError(f"independent_sampler must be 'tpe' or 'random' (a name, not a "
                             f"sampler object), got {independent_sampler!r}")
        if use_separable_cma and with_margin:
            raise ValueError("use_separable_cma and with_margin cannot be used together; choose one")
        if lr_adapt and (use_separable_cma or with_margin):
            raise ValueError("lr_adapt cannot be used with use_separable_cma or with_margin; "
                             "turn those off to adapt the learning rate")
        self.x0 = None if x0 is None else dict(x0)
        self.sigma0 = None if sigma0 is None else float(sigma0)
        self.n_startup_trials = n_startup_trials
        self.restart_strategy = restart_strategy
        self.popsize = popsize
        self.inc_popsize = inc_popsize
        self.consider_pruned_trials = bool(consider_pruned_trials)
        self.use_separable_cma = bool(use_separable_cma)
        self.with_margin = bool(with_margin)
        self.lr_adapt = bool(lr_adapt)
        self.independent_sampler = independent_sampler
        self.seed = seed
        self._seed = 0 if seed is None else int(seed)
        self._independent = (TPESampler(multivariate=False, seed=self._seed)
                             if independent_sampler == "tpe" else None)
        self._replay: _Replay | None = None

    # ---- the Sampler interface ---------------------------------------------------------
    def infer_relative_search_space(
        self, view: StudyView, trial: TrialRecord
    ) -> dict[str, Distribution]:
        """The intersection space without single-valued params: the numeric ones go to CMA-ES,
        the categorical ones to the independent sampler, at ask."""
        return varying(view.intersection_space())

    def sample_relative(
        self, view: StudyView, trial: TrialRecord, space: dict[str, Distribution]
    ) -> dict[str, ParamValue]:
        replay = self._synced(view)
        out: dict[str, ParamValue] = {}
        if replay.active() is not None:
            _, values = replay.draw(trial.number)
            out = {k: v for k, v in values.items() if space.get(k) == replay.space.get(k)}
        rest = {k: d for k, d in space.items() if k not in out}
        if rest and self._independent is not None:
            out.update(self._independent.sample_relative(view, trial, rest))
        else:
            out.update({k: self.sample_independent(view, trial, k, d) for k, d in rest.items()})
        return {k: out[k] for k in space}

    def sample_independent(
        self, view: StudyView, trial: TrialRecord, name: str, dist: Distribution
    ) -> ParamValue:
        if self._independent is not None:
            return self._independent.sample_independent(view, trial, name, dist)
        return random_value(self._seed, trial.number, name, dist)

    def state(self, view: StudyView) -> CmaStatus:
        """Where the CMA-ES of ``view`` stands now (what the next ask would draw from)."""
        replay = self._synced(view)
        run = replay.active()
        if run is None:
            return CmaStatus(active=False)
        cma = run.cma
        return CmaStatus(True, run.axes.names, cma.g, cma.popsize, run.restarts, float(cma.sigma),
                         tuple(float(v) for v in cma.mean))

    def _synced(self, view: StudyView) -> _Replay:
        if self._replay is None or self._replay.view is not view:
            self._replay = _Replay(self, view)
        self._replay.sync()
        self._replay.take(view.n_finished)
        return self._replay


def cma_space(space: dict[str, Distribution]) -> dict[str, Distribution]:
    """The params CMA-ES searches: the numeric, multi-valued ones, by name."""
    return {k: d for k, d in sorted(space.items())
            if isinstance(d, (FloatDistribution, IntDistribution)) and not d.single()}


@dataclass
class _Run:
    """One CMA-ES run: its space, state, and the bookkeeping restarts need."""

    axes: Space
    cma: Cma
    version: int  # the space version it searches
    restarts: int = 0
    regime: str = "large"  # BIPOP: the regime of this run
    small_evals: int = 0
    large_evals: int = 0
    n_large: int = 0  # BIPOP: large-regime restarts so far


class _Replay:
    """The study replayed: asks in trial-number order, finishes in the view's finishing order,
    each finish taken in before the first ask that had seen it."""

    def __init__(self, sampler: CmaEsSampler, view: StudyView) -> None:
        self.s = sampler
        self.view = view
        self.sign = -1.0 if view.directions and view.directions[0] == Direction.MAXIMIZE else 1.0
        self.cursor = 0  # the next trial (by number) whose ask is to be replayed
        self.taken = 0  # finishes taken in
        self.n_used = 0  # COMPLETE (and, if considered, PRUNED) trials taken in
        self.inter: dict[str, Distribution] | None = None
        self.space: dict[str, Distribution] = {}
        self.version = 0  # bumped when ``space`` changes
        self.run: _Run | None = None
        self.n_runs = 0  # runs started, restarts included: each has its own start stream
        self.gen = 0  # the open generation, counted over all runs
        self.members: dict[int, tuple[int, np.ndarray]] = {}  # trial: (generation, x drawn)
        self.xs: list[np.ndarray] = []  # the open generation's finished members
        self.ys: list[float] = []
        # the last draw, by (trial, generation): a generation's state never changes
        self._last: tuple[tuple[int, int], tuple[np.ndarray, dict[str, ParamValue]]] | None = None

    def sync(self) -> None:
        """Replay the asks of the trials added since; a WAITING trial has not been asked yet."""
        trials = self.view.trials
        while self.cursor < len(trials):
            record = trials[self.cursor]
            if record.state == TrialState.WAITING:
                return
            self.take(record.seen_finished)
            if self.active() is not None:
                x, values = self.draw(record.number)
                if all(record.distributions.get(k) == d and k in record.params
                       and record.params[k] == values[k] for k, d in self.space.items()):
                    self.members[record.number] = (self.gen, x)
            self.cursor += 1

    def take(self, upto: int) -> None:
        """Take in the finishes before position ``upto`` of the finishing order."""
        if upto <= self.taken:
            return
        numbers = self.view.numbers()
        trials = self.view.trials
        for i in range(self.taken, upto):
            self._finished(trials[int(numbers[i])])
        self.taken = upto

    def _finished(self, record: TrialRecord) -> None:
        state = record.state
        usable = state == TrialState.COMPLETE or (
            state == TrialState.PRUNED and self.s.consider_pruned_trials and record.values is not None)
        if state == TrialState.COMPLETE:
            self._narrow(record.distributions)
        member = self.members.pop(record.number, None)
        if not usable:
            return
        self.n_used += 1
        run = self.run
        if member is None or member[0] != self.gen or run is None or run.version != self.version:
            return
        assert record.values is not None
        self.xs.append(member[1])
        self.ys.append(self.sign * float(record.values[0]))
        if len(self.xs) == run.cma.popsize:
            self._tell(run)

    def _narrow(self, used: dict[str, Distribution]) -> None:
        if self.inter is None:
            self.inter = dict(used)
        else:
            inter = {k: d for k, d in self.inter.items() if used.get(k) == d}
            if len(inter) == len(self.inter):  # a narrowed intersection is a subset
                return
            self.inter = inter
        space = cma_space(self.inter)
        if space != self.space:
            self.space = space
            self.version += 1

    def active(self) -> _Run | None:
        """The run an ask now draws from, started if it is due; None when sampling at random."""
        if len(self.view.directions) != 1 or self.n_used < self.s.n_startup_trials:
            return None
        if len(self.space) < 2:
            return None
        if self.run is None or self.run.version != self.version:
            axes = Space.of(self.space, margin=self.s.with_margin)
            mean = np.full(axes.dim, 0.5) if self.s.x0 is None else axes.unit(self.s.x0)
            popsize = self.s.popsize or default_popsize(axes.dim)
            self.run = _Run(axes, self._cma(axes, mean, self._sigma0(), popsize), self.version)
            self._open_next()
        return self.run

    def draw(self, number: int) -> tuple[np.ndarray, dict[str, ParamValue]]:
        """Trial ``number``'s point from the open generation: (x to tell, param values)."""
        run = self.run
        assert run is not None
        if self._last is not None and self._last[0] == (number, self.gen):
            return self._last[1]  # the point of an ask, met again when its trial is replayed
        rng = stream(self.s._seed, number, _DRAW)
        x, u = run.cma.sample(rng, 10 * run.axes.dim)
        self._last = (number, self.gen), (x, run.axes.decode(u))
        return self._last[1]

    # ---- generations and restarts ------------------------------------------------------
    def _sigma0(self) -> float:
        return max(self.s.sigma0 if self.s.sigma0 is not None else 1.0 / 6.0, _SIGMA_MIN)

    def _cma(self, axes: Space, mean: np.ndarray, sigma: float, popsize: int) -> Cma:
        self.n_runs += 1
        return Cma(mean, sigma, popsize, separable=self.s.use_separable_cma, steps=axes.steps,
                   lr_adapt=self.s.lr_adapt)

    def _open_next(self) -> None:
        self.gen += 1
        self.xs, self.ys = [], []

    def _tell(self, run: _Run) -> None:
        run.cma.tell(np.array(self.xs), np.array(self.ys))
        self._open_next()
        if self.s.restart_strategy is not None and run.cma.should_stop():
            self._restart(run)
        elif run.cma.degenerate():  # a long run without restarts: start again where it stood
            mean = run.cma.mean if np.isfinite(run.cma.mean).all() else np.full(run.axes.dim, 0.5)
            run.cma = self._cma(run.axes, np.clip(mean, 0.0, 1.0), self._sigma0(), run.cma.popsize)

    def _restart(self, run: _Run) -> None:
        """A new run at a uniform random point: IPOP multiplies the population size; BIPOP
        alternates between that (large) regime and small runs with a random smaller size and
        step size, giving the small ones at most the evaluations the large ones had."""
        s = self.s
        rng = stream(s._seed, self.n_runs, _RESTART)
        mean = rng.random(run.axes.dim)
        base = s.popsize or default_popsize(run.axes.dim)
        sigma = self._sigma0()
        run.restarts += 1
        if s.restart_strategy == "ipop":
            popsize = run.cma.popsize * s.inc_popsize
        else:
            spent = run.cma.popsize * run.cma.g
            if run.regime == "small":
                run.small_evals += spent
            else:
                run.large_evals += spent
            if run.small_evals < run.large_evals:
                run.regime = "small"
                u_pop, u_sigma = rng.random(2)
                popsize = max(2, math.floor(base * (s.inc_popsize**run.restarts) ** (u_pop**2)))
                sigma = max(sigma * 10.0 ** (-2.0 * u_sigma), _SIGMA_MIN)
            else:
                run.regime = "large"
                run.n_large += 1
                popsize = base * s.inc_popsize**run.n_large
        run.cma = self._cma(run.axes, mean, sigma, popsize)
