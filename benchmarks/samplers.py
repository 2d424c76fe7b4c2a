"""tunefleet's samplers beside Optuna's: what an ask costs, and how good the points are.

    python benchmarks/samplers.py            # the full run (about 15 min on 2 busy cores)
    python benchmarks/samplers.py --quick    # a few minutes: fewer seeds, trials and sizes
    python benchmarks/samplers.py --parts cost --jobs 1

Needs optuna (the ``bench`` extra); tunefleet never imports it. tunefleet is driven
in-process through ``core.study.Study`` (no broker, no journal), Optuna through its
ask/tell interface with InMemoryStorage. Both run single-threaded BLAS (set below, before
numpy loads), as a coordinator on a shared node should.

1. Cost: median ms per ask + suggests + tell at n finished trials, both studies warm-started
   with the same n random trials (``Study.add_trial``; Optuna's ``add_trials``), for TPE
   with the defaults (multivariate + constant liar in both), TPE independent without the
   liar (Optuna 4's defaults), and random search; 5 and 20 float params. ``first`` is
   tunefleet's first ask after the warm start, which builds the sampler's cache.
2. Sample efficiency: best value after 1/3 of the trials and after all of them, median over
   seeds, TPE with the defaults in both libraries (tunefleet's random search as a baseline),
   with a two-sided Mann-Whitney U test per function on the final values.
3. Parallel efficiency: the same, TPE only, when trials are asked in batches of k (ask k,
   evaluate all k, then tell them), k = 1, 16, 64: what k workers asking at once amount to.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections import deque  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import optuna  # noqa: E402
from functions import PROBLEMS, Problem  # noqa: E402
from scipy.stats import mannwhitneyu  # noqa: E402

from tunefleet.core.distributions import (  # noqa: E402
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
)
from tunefleet.core.replies import Suggested, TrialAssigned  # noqa: E402
from tunefleet.core.settings import StudySettings  # noqa: E402
from tunefleet.core.study import Study  # noqa: E402
from tunefleet.core.trial import TrialState  # noqa: E402
from tunefleet.pruners import NopPruner  # noqa: E402
from tunefleet.samplers import RandomSampler, TPESampler  # noqa: E402
from tunefleet.samplers.base import Sampler  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.simplefilter("ignore")

SAMPLERS: dict[str, tuple[Any, Any]] = {  # name: (tunefleet factory, optuna factory), by seed
    "tpe": (lambda s: TPESampler(seed=s), lambda s: optuna.samplers.TPESampler(seed=s)),
    "tpe-independent": (
        lambda s: TPESampler(seed=s, multivariate=False, constant_liar=False),
        lambda s: optuna.samplers.TPESampler(seed=s, multivariate=False, constant_liar=False),
    ),
    "random": (lambda s: RandomSampler(seed=s), lambda s: optuna.samplers.RandomSampler(seed=s)),
}


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


def our_study(sampler: Sampler) -> Study:
    return Study("bench", StudySettings(), sampler, NopPruner())


def our_ask(study: Study) -> OurTrial:
    reply = study.ask("w", request_id=None, now=0.0)[1]
    assert isinstance(reply, TrialAssigned), reply
    return OurTrial(study, reply)


def our_tell(study: Study, t: OurTrial, value: float) -> None:
    study.tell(t.number, TrialState.COMPLETE, values=value, params=t.params,
               distributions=t.distributions, request_id=None, now=0.0)


# ---- 1. cost -------------------------------------------------------------------------------
def history(n: int, d: int) -> tuple[list[dict[str, float]], list[float]]:
    rng = np.random.default_rng(n * 100 + d)
    xs = rng.uniform(-5.0, 5.0, size=(n, d))
    return [{f"x{j}": float(v) for j, v in enumerate(row)} for row in xs], list((xs**2).sum(axis=1))


def sphere_objective(d: int) -> Any:
    return lambda t: sum(t.suggest_float(f"x{j}", -5.0, 5.0) ** 2 for j in range(d))


def cost_ours(kind: str, n: int, d: int, reps: int) -> tuple[float, float]:
    params, values = history(n, d)
    dists = {f"x{j}": FloatDistribution(-5.0, 5.0) for j in range(d)}
    study = our_study(SAMPLERS[kind][0](0))
    for p, v in zip(params, values, strict=True):
        study.add_trial(state=TrialState.COMPLETE, values=v, params=p, distributions=dists,
                        request_id=None, now=0.0)
    objective = sphere_objective(d)
    times = []
    for _ in range(reps + 1):
        t0 = time.perf_counter()
        t = our_ask(study)
        our_tell(study, t, objective(t))
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times[1:]), 1e3 * times[0]


def cost_optuna(kind: str, n: int, d: int, reps: int) -> float:
    params, values = history(n, d)
    dists = {f"x{j}": optuna.distributions.FloatDistribution(-5.0, 5.0) for j in range(d)}
    study = optuna.create_study(sampler=SAMPLERS[kind][1](0))
    study.add_trials([optuna.trial.create_trial(params=p, distributions=dists, value=v)
                      for p, v in zip(params, values, strict=True)])
    objective = sphere_objective(d)
    times = []
    for _ in range(reps + 1):
        t0 = time.perf_counter()
        t = study.ask()
        study.tell(t, objective(t))
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times[1:])


def cost_cell(job: tuple[str, int, int, int]) -> tuple[tuple[str, int, int], tuple[float, float, float]]:
    kind, n, d, reps = job
    ours, first = cost_ours(kind, n, d, reps)
    theirs = cost_optuna(kind, n, d, max(3, reps // 3) if n >= 10_000 else reps)
    return (kind, n, d), (ours, first, theirs)


def part_cost(pool: ProcessPoolExecutor, sizes: list[int], reps: int) -> str:
    jobs = [(kind, n, d, reps) for d in (5, 20) for kind in SAMPLERS for n in sizes]
    results = dict(pool.map(cost_cell, jobs))
    lines = ["ms per ask + tell at n finished trials (median; `first`: tunefleet's first ask after "
             "the warm start)",
             f"{'sampler':18} {'params':>6} {'n':>7} {'tunefleet':>10} {'first':>8} {'optuna':>9} "
             f"{'ratio':>7}"]
    for d in (5, 20):
        for kind in SAMPLERS:
            for n in sizes:
                ours, first, theirs = results[(kind, n, d)]
                lines.append(f"{kind:18} {d:>6} {n:>7,} {ours:>10.2f} {first:>8.1f} {theirs:>9.2f} "
                             f"{theirs / ours:>6.1f}x")
    return "\n".join(lines)


# ---- 2. and 3. sample efficiency ---------------------------------------------------------------
def run_ours(sampler: Sampler, problem: Problem, trials: int, batch: int, mode: str = "sync") -> list[float]:
    study = our_study(sampler)
    return drive(lambda: our_ask(study), lambda t, v: our_tell(study, t, v), problem, trials, batch, mode)


def run_optuna(sampler: Any, problem: Problem, trials: int, batch: int, mode: str = "sync") -> list[float]:
    study = optuna.create_study(sampler=sampler)
    return drive(study.ask, study.tell, problem, trials, batch, mode)


def drive(ask: Any, tell: Any, problem: Problem, trials: int, k: int, mode: str) -> list[float]:
    """The values of ``trials`` trials, in the order they were told, with k workers.

    sync: ask k, evaluate all k, then tell them (k workers that start and end together).
    async: k trials always pending; tell the oldest, then ask a new one (k workers whose
    trials take equally long, as in a fleet in its steady state).
    Every trial suggests all its params before the next ask, as a worker would (Optuna
    samples a trial's relative params at its first suggest).
    """
    values: list[float] = []
    if mode == "sync":
        while len(values) < trials:
            pending = [ask() for _ in range(min(k, trials - len(values)))]
            outs = [problem.objective(t) for t in pending]
            for t, v in zip(pending, outs, strict=True):
                tell(t, v)
            values += outs
        return values
    running: deque[tuple[Any, float]] = deque()
    asked = 0
    while len(values) < trials:
        while len(running) < k and asked < trials:
            t = ask()
            running.append((t, problem.objective(t)))
            asked += 1
        t, v = running.popleft()
        tell(t, v)
        values.append(v)
    return values


def efficiency_cell(job: tuple[str, str, str, int, int, int, str]) -> tuple[tuple[str, ...], list[float]]:
    """Best-so-far values after each checkpoint of one (library, sampler, problem, seed, batch,
    mode)."""
    lib, kind, name, seed, trials, batch, mode = job
    problem = next(p for p in PROBLEMS if p.name == name)
    if lib == "tunefleet":
        values = run_ours(SAMPLERS[kind][0](seed), problem, trials, batch, mode)
    else:
        values = run_optuna(SAMPLERS[kind][1](seed), problem, trials, batch, mode)
    best = np.minimum.accumulate(values)
    return (lib, kind, name, str(seed), f"{batch}{mode}"), [float(best[trials // 3 - 1]), float(best[-1])]


def fmt(x: float) -> str:
    return f"{x:.4g}" if abs(x) < 1e5 else f"{x:.3e}"


def part_efficiency(results: dict[tuple[str, ...], list[float]], problems: list[str], seeds: int,
                    trials: int) -> str:
    third = trials // 3
    lines = [f"best value after {third} and {trials} trials, median of {seeds} seeds; p: two-sided "
             f"Mann-Whitney U on the {trials}-trial values (tunefleet TPE vs Optuna TPE)",
             f"{'function':18} {'optimum':>9} {'tf tpe@' + str(third):>11} {'optuna@' + str(third):>11} "
             f"{'tf tpe@' + str(trials):>11} {'optuna@' + str(trials):>11} {'p':>6}  "
             f"{'better':8} {'random@' + str(trials):>11}"]
    for name in problems:
        def vals(lib: str, kind: str, i: int, name: str = name) -> list[float]:
            return [results[(lib, kind, name, str(s), "1sync")][i] for s in range(seeds)]

        ours, theirs = vals("tunefleet", "tpe", 1), vals("optuna", "tpe", 1)
        p = mannwhitneyu(ours, theirs, alternative="two-sided").pvalue
        better = "-" if p >= 0.05 else ("tunefleet" if np.median(ours) < np.median(theirs) else "optuna")
        optimum = next(pr.optimum for pr in PROBLEMS if pr.name == name)
        lines.append(
            f"{name:18} {fmt(optimum):>9} {fmt(np.median(vals('tunefleet', 'tpe', 0))):>11} "
            f"{fmt(np.median(vals('optuna', 'tpe', 0))):>11} {fmt(np.median(ours)):>11} "
            f"{fmt(np.median(theirs)):>11} {p:>6.2f}  {better:8} "
            f"{fmt(np.median(vals('tunefleet', 'random', 1))):>11}")
    return "\n".join(lines)


def part_parallel(results: dict[tuple[str, ...], list[float]], problems: list[str], seeds: int,
                  trials: int, batches: list[int]) -> str:
    """Per k and mode: medians, a Mann-Whitney U test of tunefleet against Optuna, and what
    is kept of the sequential result: (random - best_k) / (random - best_1), medians, where
    random is tunefleet's random search with the same budget (1.00: as good as sequential)."""
    lines = [f"TPE, best value after {trials} trials with k trials pending (median of {seeds} seeds); "
             "kept: (random - k) / (random - sequential)",
             f"{'function':18} {'k':>3} {'mode':>5} {'tunefleet':>11} {'kept':>6} {'optuna':>11} "
             f"{'kept':>6} {'p':>6}"]
    for name in problems:
        def med(lib: str, kind: str, key: str, name: str = name) -> tuple[float, list[float]]:
            vals = [results[(lib, kind, name, str(s), key)][1] for s in range(seeds)]
            return float(np.median(vals)), vals

        rand, _ = med("tunefleet", "random", "1sync")
        for k in batches:
            for mode in (("sync",) if k == 1 else ("sync", "async")):
                ours, ov = med("tunefleet", "tpe", f"{k}{mode}")
                theirs, tv = med("optuna", "tpe", f"{k}{mode}")
                kept_o = (rand - ours) / (rand - med("tunefleet", "tpe", "1sync")[0])
                kept_t = (rand - theirs) / (rand - med("optuna", "tpe", "1sync")[0])
                p = mannwhitneyu(ov, tv, alternative="two-sided").pvalue
                lines.append(f"{name:18} {k:>3} {mode:>5} {fmt(ours):>11} {kept_o:>6.2f} {fmt(theirs):>11} "
                             f"{kept_t:>6.2f} {p:>6.2f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer seeds, trials and sizes")
    ap.add_argument("--parts", nargs="+", default=["cost", "efficiency", "parallel"],
                    choices=["cost", "efficiency", "parallel"])
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    args = ap.parse_args()
    if args.quick:
        sizes, reps, seeds, trials, par_seeds = [1000, 10_000], 5, 5, 150, 4
        par_problems, batches = ["hartmann6", "mixed"], [1, 16]
    else:
        sizes, reps, seeds, trials, par_seeds = [1000, 10_000], 15, 20, 300, 10
        par_problems, batches = ["hartmann6", "rosenbrock10", "mixed"], [1, 16, 64]
    problems = [p.name for p in PROBLEMS]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        if "cost" in args.parts:
            print("## 1. Cost\n\n" + part_cost(pool, sizes, reps) + "\n", flush=True)
        jobs: list[tuple[str, str, str, int, int, int, str]] = []
        if "efficiency" in args.parts:
            for name in problems:
                for s in range(seeds):
                    jobs += [("tunefleet", "tpe", name, s, trials, 1, "sync"),
                             ("optuna", "tpe", name, s, trials, 1, "sync"),
                             ("tunefleet", "random", name, s, trials, 1, "sync")]
        if "parallel" in args.parts:
            for name in par_problems:
                for s in range(par_seeds):
                    jobs.append(("tunefleet", "random", name, s, trials, 1, "sync"))
                    for k in batches:
                        for mode in (("sync",) if k == 1 else ("sync", "async")):
                            jobs += [("tunefleet", "tpe", name, s, trials, k, mode),
                                     ("optuna", "tpe", name, s, trials, k, mode)]
        jobs = sorted(set(jobs), key=lambda j: j[0] != "optuna")  # the slow ones first
        results = dict(pool.map(efficiency_cell, jobs, chunksize=1))
    if "efficiency" in args.parts:
        print("## 2. Sample efficiency\n\n" + part_efficiency(results, problems, seeds, trials) + "\n")
    if "parallel" in args.parts:
        print("## 3. Parallel efficiency\n\n"
              + part_parallel(results, par_problems, par_seeds, trials, batches) + "\n")
    print(f"({time.perf_counter() - start:.0f} s, {args.jobs} processes, optuna {optuna.__version__})")


if __name__ == "__main__":
    main()
