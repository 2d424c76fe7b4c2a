"""The drivers behind ``samplers.py``: tunefleet in-process and Optuna side by side.

Each ``*_cell`` function is one job for a worker process; it takes a tuple of plain values
and returns a key and its numbers, so that the jobs of every part share one process pool.
Import this module after the BLAS thread variables are set (``samplers.py`` does).
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections import deque
from typing import Any

import numpy as np
import optuna
from functions import HV_REF, MULTI_PROBLEMS, PROBLEMS, Problem, hypervolume_2d

from tunefleet.core.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
)
from tunefleet.core.replies import Suggested, TrialAssigned
from tunefleet.core.settings import Direction, StudySettings
from tunefleet.core.study import Study
from tunefleet.core.trial import TrialState
from tunefleet.pruners import NopPruner
from tunefleet.samplers import (
    CmaEsSampler,
    GPSampler,
    NSGAIISampler,
    RandomSampler,
    TPESampler,
)
from tunefleet.samplers.base import Sampler

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.simplefilter("ignore")

SAMPLERS: dict[str, tuple[Any, Any]] = {  # name: (tunefleet factory, optuna factory), by seed
    "tpe": (lambda s: TPESampler(seed=s), lambda s: optuna.samplers.TPESampler(seed=s)),
    "tpe-independent": (
        lambda s: TPESampler(seed=s, multivariate=False, constant_liar=False),
        lambda s: optuna.samplers.TPESampler(seed=s, multivariate=False, constant_liar=False),
    ),
    "cmaes": (lambda s: CmaEsSampler(seed=s), lambda s: optuna.samplers.CmaEsSampler(seed=s)),
    "random": (lambda s: RandomSampler(seed=s), lambda s: optuna.samplers.RandomSampler(seed=s)),
    "nsga2": (lambda s: NSGAIISampler(seed=s), lambda s: optuna.samplers.NSGAIISampler(seed=s)),
    "gp": (lambda s: GPSampler(seed=s), lambda s: optuna.samplers.GPSampler(seed=s)),
}
# in the cost part, MOTPE is TPE on a study with several objectives
SAMPLERS["motpe"] = SAMPLERS["motpe3"] = SAMPLERS["tpe"]
OBJECTIVES = {"nsga2": 2, "motpe": 2, "motpe3": 3}  # in the cost part; the others have one
_CENTRES = (0.0, 1.0, -1.0)  # objective j of the cost part: the sum of squares around _CENTRES[j]


def problem(name: str) -> Problem:
    return next(p for p in PROBLEMS + MULTI_PROBLEMS if p.name == name)


# ---- tunefleet, driven in-process ---------------------------------------------------------
class OurTrial:
    """What an objective sees: params pre-sampled at ask with the same distribution are
    answered locally (as a worker does), any other suggest goes to the study."""

    def __init__(self, study: Study, assigned: TrialAssigned) -> None:
        self.study, self.number = study, assigned.number
        self.given, self.given_dists = assigned.params, assigned.distributions
        self.params: dict[str, Any] = {}
        self.distributions: dict[str, Distribution] = {}

    def _suggest(self, name: str, dist: Distribution) -> Any:
        if self.given_dists.get(name) == dist:
            value = self.given[name]
        else:
            reply = self.study.suggest(self.number, name, dist, request_id=None, now=0.0)[1]
            assert isinstance(reply, Suggested)
            value = reply.value
        self.params[name], self.distributions[name] = value, dist
        return value

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False,
                      step: float | None = None) -> float:
        return float(self._suggest(name, FloatDistribution(low, high, log=log, step=step)))

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False, step: int = 1) -> int:
        return int(self._suggest(name, IntDistribution(low, high, log=log, step=step)))

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        return self._suggest(name, CategoricalDistribution(tuple(choices)))


def our_study(sampler: Sampler, objectives: int = 1) -> Study:
    return Study("bench", StudySettings(directions=(Direction.MINIMIZE,) * objectives), sampler,
                 NopPruner())


def our_ask(study: Study) -> OurTrial:
    reply = study.ask("w", request_id=None, now=0.0)[1]
    assert isinstance(reply, TrialAssigned), reply
    return OurTrial(study, reply)


def our_tell(study: Study, t: OurTrial, value: Any) -> None:
    study.tell(t.number, TrialState.COMPLETE, values=value, params=t.params,
               distributions=t.distributions, request_id=None, now=0.0)


def optuna_study(sampler: Any, objectives: int = 1) -> Any:
    return optuna.create_study(sampler=sampler, directions=["minimize"] * objectives)


# ---- 1. cost -------------------------------------------------------------------------------
def history(n: int, d: int, objectives: int) -> tuple[list[dict[str, float]], list[Any]]:
    """n random trials in [-5, 5]^d: the sum of squares around each of the first
    ``objectives`` centres (one value, or a tuple of them)."""
    rng = np.random.default_rng(n * 100 + d)
    xs = rng.uniform(-5.0, 5.0, size=(n, d))
    params = [{f"x{j}": float(v) for j, v in enumerate(row)} for row in xs]
    values = np.stack([((xs - c) ** 2).sum(axis=1) for c in _CENTRES[:objectives]], axis=1)
    if objectives == 1:
        return params, [float(v) for v in values[:, 0]]
    return params, [tuple(float(v) for v in row) for row in values]


def cost_objective(d: int, objectives: int) -> Any:
    def f(t: Any) -> Any:
        x = np.array([t.suggest_float(f"x{j}", -5.0, 5.0) for j in range(d)])
        values = tuple(float(((x - c) ** 2).sum()) for c in _CENTRES[:objectives])
        return values[0] if objectives == 1 else values
    return f


def timed(ask: Any, tell: Any, objective: Any, reps: int, budget: float) -> list[float]:
    """Seconds per ask + suggests + tell, ``reps + 1`` times (the first is the warm start's),
    or fewer (at least 3) once ``budget`` seconds have gone."""
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < reps + 1 and (len(times) < 3 or time.perf_counter() - start < budget):
        t0 = time.perf_counter()
        t = ask()
        tell(t, objective(t))
        times.append(time.perf_counter() - t0)
    return times


CostJob = tuple[str, int, int, int, int, float]  # sampler, n, d, reps, Optuna's reps, budget


def cost_cell(job: CostJob) -> tuple[tuple[str, int, int], tuple[float, ...]]:
    """(tunefleet median ms, its first ask, Optuna median ms, Optuna's reps) at n trials."""
    kind, n, d, reps, oreps, budget = job
    m = OBJECTIVES.get(kind, 1)
    params, values = history(n, d, m)
    objective = cost_objective(d, m)
    ours = our_study(SAMPLERS[kind][0](0), m)
    dists = {f"x{j}": FloatDistribution(-5.0, 5.0) for j in range(d)}
    for p, v in zip(params, values, strict=True):
        ours.add_trial(state=TrialState.COMPLETE, values=v, params=p, distributions=dists,
                       request_id=None, now=0.0)
    ot = timed(lambda: our_ask(ours), lambda t, v: our_tell(ours, t, v), objective, reps, budget)
    theirs = optuna_study(SAMPLERS[kind][1](0), m)
    odists = {f"x{j}": optuna.distributions.FloatDistribution(-5.0, 5.0) for j in range(d)}
    theirs.add_trials([optuna.trial.create_trial(params=p, distributions=odists,
                                                 **({"value": v} if m == 1 else {"values": v}))
                       for p, v in zip(params, values, strict=True)])
    tt = timed(theirs.ask, theirs.tell, objective, oreps, budget)
    return (kind, n, d), (1e3 * statistics.median(ot[1:]), 1e3 * ot[0],
                          1e3 * statistics.median(tt[1:]), float(len(tt) - 1))


def random_cell(job: tuple[int, int]) -> tuple[tuple[str, int, int], tuple[float, ...]]:
    """tunefleet's random search in-process on a fresh study: ms per ask + tell (d = 0: no
    params) or ask + d suggests + tell, median over ``trials`` trials, and the mean."""
    d, trials = job
    study = our_study(RandomSampler(seed=0))
    objective = cost_objective(d, 1) if d else (lambda t: 0.0)
    times = timed(lambda: our_ask(study), lambda t, v: our_tell(study, t, v), objective, trials, 1e9)
    return ("in-process", d, trials), (1e3 * statistics.median(times), 1e3 * statistics.fmean(times))


# ---- 2. and 3. sample efficiency ---------------------------------------------------------------
def drive(ask: Any, tell: Any, prob: Problem, trials: int, k: int, mode: str) -> list[Any]:
    """The values of ``trials`` trials, in the order they were told, with k workers.

    sync: ask k, evaluate all k, then tell them (k workers that start and end together).
    async: k trials always pending; tell the oldest, then ask a new one (k workers whose
    trials take equally long, as in a fleet in its steady state).
    Every trial suggests all its params before the next ask, as a worker would (Optuna
    samples a trial's relative params at its first suggest).
    """
    values: list[Any] = []
    if mode == "sync":
        while len(values) < trials:
            pending = [ask() for _ in range(min(k, trials - len(values)))]
            outs = [prob.objective(t) for t in pending]
            for t, v in zip(pending, outs, strict=True):
                tell(t, v)
            values += outs
        return values
    running: deque[tuple[Any, Any]] = deque()
    asked = 0
    while len(values) < trials:
        while len(running) < k and asked < trials:
            t = ask()
            running.append((t, prob.objective(t)))
            asked += 1
        t, v = running.popleft()
        tell(t, v)
        values.append(v)
    return values


RunJob = tuple[str, str, str, int, int, int, str]  # lib, sampler, problem, seed, trials, k, mode


def run_cell(job: RunJob) -> tuple[RunJob, list[float], float]:
    """One run: the best value after each trial, or for a multi-objective problem the
    hypervolume of the front after each 100 trials; and the seconds it took."""
    lib, kind, name, seed, trials, k, mode = job
    start = time.perf_counter()
    prob = problem(name)
    m = 2 if prob in MULTI_PROBLEMS else 1
    if lib == "tunefleet":
        study = our_study(SAMPLERS[kind][0](seed), m)
        values = drive(lambda: our_ask(study), lambda t, v: our_tell(study, t, v), prob, trials, k, mode)
    else:
        ostudy = optuna_study(SAMPLERS[kind][1](seed), m)
        values = drive(ostudy.ask, ostudy.tell, prob, trials, k, mode)
    if m == 1:
        return job, [float(v) for v in np.minimum.accumulate(values)], time.perf_counter() - start
    points = np.array(values, dtype=float)
    hvs = [hypervolume_2d(points[:i], HV_REF) for i in range(100, trials + 1, 100)]
    return job, hvs, time.perf_counter() - start
