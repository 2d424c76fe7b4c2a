"""tunefleet's samplers beside Optuna's: what an ask costs, and how good the points are.

    python benchmarks/samplers.py            # the full run (about 26 min on 2 cores)
    python benchmarks/samplers.py --quick    # a few minutes: fewer seeds, trials and sizes
    python benchmarks/samplers.py --parts cost --jobs 1
    python benchmarks/samplers.py --parts parallel --par-seeds 200 --first-seed 100 --no-optuna

Needs optuna (the ``bench`` extra) and torch for Optuna's GPSampler; tunefleet never
imports them. tunefleet is driven in-process through ``core.study.Study`` (no broker, no
journal), Optuna through its ask/tell interface with InMemoryStorage. Both run
single-threaded BLAS (set below, before numpy loads), as a coordinator on a shared node
should, and in worker processes whose malloc keeps freed memory, as the coordinator's does
(``--default-malloc`` leaves glibc's defaults). The drivers are in ``sampler_runs.py``.

1. Cost: median ms per ask + suggests + tell at n finished trials, both studies warm-started
   with the same n random trials (``Study.add_trial``; Optuna's ``add_trials``), for TPE
   with the defaults (multivariate + constant liar in both), TPE independent without the
   liar (Optuna 4's defaults), CMA-ES, random search and NSGA-II (2 objectives) with 5 and
   20 float params, and GP with 5; ``first`` is tunefleet's first ask after the warm start,
   which builds the sampler's cache. Then tunefleet's random ask + tell on a fresh study.
2. Sample efficiency: best value after 1/3 of the trials and after all of them, median over
   seeds, TPE, CMA-ES and GP (fewer trials and seeds) with the defaults in both libraries
   (tunefleet's random search as a baseline), with a two-sided Mann-Whitney U test per
   function on the final values; then NSGA-II and TPE (MOTPE) on ZDT1: the hypervolume.
3. Parallel efficiency: TPE and GP when k trials are pending, k = 1, 16, 64, "sync" (ask k,
   evaluate all k, tell them) and "async" (k always pending: tell the oldest, ask one).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import dataclass, replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import optuna  # noqa: E402
from functions import MULTI_PROBLEMS, PROBLEMS  # noqa: E402
from sampler_runs import CostJob, RunJob, cost_cell, random_cell, run_cell  # noqa: E402
from scipy.stats import mannwhitneyu  # noqa: E402

from tunefleet.coordinator.memory import keep_freed_memory  # noqa: E402

Results = dict[RunJob, list[float]]


@dataclass(frozen=True)
class Plan:
    """What one run measures; ``--quick`` and the full run differ only here."""

    sizes: list[int]  # cost: n finished trials
    gp_sizes: list[int]
    reps: int  # cost: asks timed per cell (Optuna: a third at 10,000)
    gp_reps: tuple[int, int]  # cost, GP: (tunefleet, Optuna)
    budget: float  # cost: seconds after which a cell stops timing (keeping at least 3 asks)
    seeds: int  # 2. TPE, CMA-ES and random
    trials: int
    gp_problems: list[str]
    gp_seeds: int
    gp_trials: int
    mo_seeds: int
    mo_trials: tuple[int, int]  # ZDT1: checkpoints (multiples of 100)
    par_problems: list[str]
    par_seeds: int
    par_first_seed: int  # 3. seeds par_first_seed, par_first_seed + 1, ...
    batches: list[int]
    gp_par_seeds: int
    gp_par_trials: int
    par_optuna: bool  # 3. Optuna's TPE beside ours


FULL = Plan(sizes=[1000, 10_000], gp_sizes=[200, 1000], reps=15, gp_reps=(15, 5), budget=60.0,
            seeds=20, trials=300, gp_problems=["branin", "hartmann6", "rosenbrock10", "ackley10"],
            gp_seeds=10, gp_trials=100, mo_seeds=10, mo_trials=(300, 1000),
            par_problems=["hartmann6", "rosenbrock10", "mixed"], par_seeds=20, par_first_seed=0,
            batches=[1, 16, 64], gp_par_seeds=5, gp_par_trials=300, par_optuna=True)
QUICK = Plan(sizes=[1000, 10_000], gp_sizes=[200], reps=5, gp_reps=(5, 3), budget=15.0,
             seeds=5, trials=150, gp_problems=["branin", "hartmann6"], gp_seeds=3, gp_trials=50,
             mo_seeds=3, mo_trials=(100, 300), par_problems=["hartmann6", "mixed"], par_seeds=4,
             par_first_seed=0, batches=[1, 16], gp_par_seeds=2, gp_par_trials=60, par_optuna=True)
NUMERIC = {"branin", "hartmann6", "rosenbrock10", "ackley10", "styblinski_tang10"}
COST_KINDS = ["tpe", "tpe-independent", "cmaes", "random", "nsga2", "motpe", "motpe3"]


def fmt(x: float) -> str:
    return f"{x:.4g}" if abs(x) < 1e5 else f"{x:.3e}"


def u_test(ours: list[float], theirs: list[float], *, higher: bool = False) -> tuple[float, str]:
    """The two-sided Mann-Whitney U p-value, and which side is significantly better."""
    p = float(mannwhitneyu(ours, theirs, alternative="two-sided").pvalue)
    ahead = np.median(ours) > np.median(theirs) if higher else np.median(ours) < np.median(theirs)
    return p, "-" if p >= 0.05 else ("tunefleet" if ahead else "optuna")


# ---- 1. cost -------------------------------------------------------------------------------
def part_cost(pool: ProcessPoolExecutor, plan: Plan) -> str:
    jobs: list[CostJob] = [(kind, n, d, plan.reps, plan.reps if n < 10_000 else max(3, plan.reps // 3),
                            plan.budget) for d in (5, 20) for kind in COST_KINDS for n in plan.sizes]
    jobs += [("gp", n, 5, *plan.gp_reps, plan.budget) for n in plan.gp_sizes]
    jobs.sort(key=lambda j: (j[0] != "gp", -j[1] * j[2]))  # the slow ones first
    results = dict(pool.map(cost_cell, jobs, chunksize=1))
    lines = ["ms per ask + tell at n finished trials, warm-started with n random trials (median "
             f"of {plan.reps}, Optuna of {max(3, plan.reps // 3)} at 10,000; GP: "
             f"{plan.gp_reps[0]} and {plan.gp_reps[1]}; `reps` is Optuna's, which stops after "
             f"{plan.budget:.0f} s; `first`: tunefleet's first ask after the warm start; nsga2 "
             "and motpe (TPE) with 2 objectives, motpe3 with 3)",
             f"{'sampler':18} {'params':>6} {'n':>7} {'tunefleet':>10} {'first':>8} {'optuna':>9} "
             f"{'reps':>4} {'ratio':>7}"]
    rows = [(kind, d, n) for d in (5, 20) for kind in COST_KINDS for n in plan.sizes]
    rows += [("gp", 5, n) for n in plan.gp_sizes]
    for kind, d, n in rows:
        ours, first, theirs, reps = results[(kind, n, d)]
        lines.append(f"{kind:18} {d:>6} {n:>7,} {ours:>10.2f} {first:>8.1f} {theirs:>9.2f} "
                     f"{reps:>4.0f} {theirs / ours:>6.1f}x")
    lines.append("\ntunefleet random search in-process on a fresh study (Study.ask + tell, no "
                 "broker, no journal), ms per trial over 5,000 trials")
    for d, (_, (median, mean)) in zip((0, 5), pool.map(random_cell, [(0, 5000), (5, 5000)]), strict=True):
        what = "no params" if d == 0 else f"{d} float params"
        lines.append(f"  {what:16} median {median:.4f} ms, mean {mean:.4f} ms")
    return "\n".join(lines)


# ---- 2. sample efficiency ----------------------------------------------------------------------
def efficiency_jobs(plan: Plan) -> list[RunJob]:
    jobs: list[RunJob] = []
    for pr in PROBLEMS:
        for s in range(plan.seeds):
            jobs.append(("tunefleet", "random", pr.name, s, plan.trials, 1, "sync"))
            for kind in ("tpe", "cmaes"):
                jobs += [(lib, kind, pr.name, s, plan.trials, 1, "sync") for lib in ("tunefleet", "optuna")]
    for name in plan.gp_problems:
        for s in range(plan.gp_seeds):
            jobs += [(lib, "gp", name, s, plan.gp_trials, 1, "sync") for lib in ("tunefleet", "optuna")]
    for pr in MULTI_PROBLEMS:
        for s in range(plan.mo_seeds):
            jobs.append(("tunefleet", "random", pr.name, s, plan.mo_trials[1], 1, "sync"))
            for kind in ("nsga2", "tpe"):
                jobs += [(lib, kind, pr.name, s, plan.mo_trials[1], 1, "sync")
                         for lib in ("tunefleet", "optuna")]
    return jobs


def part_efficiency(results: Results, plan: Plan) -> str:
    third, trials = plan.trials // 3, plan.trials
    lines = [f"best value after {third} and {trials} trials, median of {plan.seeds} seeds (gp: after "
             f"{plan.gp_trials} trials only, {plan.gp_seeds} seeds, {len(plan.gp_problems)} numeric "
             "problems: Optuna's GP costs about 1 s an ask at 500 trials); p: two-sided "
             "Mann-Whitney U on the final values; better: the side significantly better at "
             "p < 0.05; random: tunefleet's random search with the final budget",
             f"{'function':18} {'sampler':7} {'optimum':>9} {'tf@' + str(third):>10} "
             f"{'optuna@' + str(third):>10} {'tf@' + str(trials):>10} {'optuna@' + str(trials):>10} "
             f"{'p':>6}  {'better':9} {'random':>10}"]
    for pr in PROBLEMS:
        for kind in ("tpe", "cmaes", "gp"):
            if kind == "gp" and pr.name not in plan.gp_problems:
                continue
            seeds, n = (plan.gp_seeds, plan.gp_trials) if kind == "gp" else (plan.seeds, plan.trials)

            def at(lib: str, i: int, kind: str = kind, n: int = n, seeds: int = seeds,
                   name: str = pr.name) -> list[float]:
                return [results[(lib, kind, name, s, n, 1, "sync")][i - 1] for s in range(seeds)]

            ours, theirs = at("tunefleet", n), at("optuna", n)
            p, better = u_test(ours, theirs)
            rand = np.median([results[("tunefleet", "random", pr.name, s, plan.trials, 1, "sync")][n - 1]
                              for s in range(seeds)])
            early = (f"{fmt(np.median(at('tunefleet', third))):>10} {fmt(np.median(at('optuna', third))):>10}"
                     if kind != "gp" else f"{fmt(np.median(ours)):>10} {fmt(np.median(theirs)):>10}")
            late = (f"{fmt(np.median(ours)):>10} {fmt(np.median(theirs)):>10}" if kind != "gp"
                    else f"{'':>10} {'':>10}")
            lines.append(f"{pr.name:18} {kind:7} {fmt(pr.optimum):>9} {early} {late} {p:>6.2f}  "
                         f"{better:9} {fmt(rand):>10}")
    return "\n".join(lines)


def part_multi(results: Results, plan: Plan) -> str:
    a, b = plan.mo_trials
    lines = [f"hypervolume of the front (reference (1.1, 1.1); higher is better) after {a} and {b} "
             f"trials, median of {plan.mo_seeds} seeds; p: two-sided Mann-Whitney U; random: "
             f"tunefleet's random search after {b}",
             f"{'function':8} {'sampler':7} {'front':>7} {'tf@' + str(a):>9} {'optuna@' + str(a):>11} "
             f"{'p':>6} {'tf@' + str(b):>9} {'optuna@' + str(b):>11} {'p':>6}  {'better':9} "
             f"{'random':>7}"]
    for pr in MULTI_PROBLEMS:
        for kind in ("nsga2", "tpe"):
            def hv(lib: str, at: int, kind: str = kind, name: str = pr.name) -> list[float]:
                return [results[(lib, kind, name, s, b, 1, "sync")][at // 100 - 1]
                        for s in range(plan.mo_seeds)]

            pa, _ = u_test(hv("tunefleet", a), hv("optuna", a), higher=True)
            pb, better = u_test(hv("tunefleet", b), hv("optuna", b), higher=True)
            rand = np.median(hv("tunefleet", b, "random"))
            lines.append(f"{pr.name:8} {kind:7} {pr.optimum:>7.4f} {np.median(hv('tunefleet', a)):>9.4f} "
                         f"{np.median(hv('optuna', a)):>11.4f} {pa:>6.2f} "
                         f"{np.median(hv('tunefleet', b)):>9.4f} {np.median(hv('optuna', b)):>11.4f} "
                         f"{pb:>6.2f}  {better:9} {rand:>7.4f}")
    return "\n".join(lines)


# ---- 3. parallel efficiency --------------------------------------------------------------------
def modes(k: int) -> tuple[str, ...]:
    return ("sync",) if k == 1 else ("sync", "async")


def par_seeds(plan: Plan) -> range:
    return range(plan.par_first_seed, plan.par_first_seed + plan.par_seeds)


def parallel_jobs(plan: Plan) -> list[RunJob]:
    jobs: list[RunJob] = []
    libs = ("tunefleet", "optuna") if plan.par_optuna else ("tunefleet",)
    for name in plan.par_problems:
        for s in par_seeds(plan):
            jobs.append(("tunefleet", "random", name, s, plan.trials, 1, "sync"))
            for k in plan.batches:
                for mode in modes(k):
                    jobs += [(lib, "tpe", name, s, plan.trials, k, mode) for lib in libs]
        if name not in NUMERIC:
            continue
        for s in range(plan.gp_par_seeds):
            jobs.append(("tunefleet", "random", name, s, plan.trials, 1, "sync"))
            for k in plan.batches:
                jobs += [("tunefleet", "gp", name, s, plan.gp_par_trials, k, mode) for mode in modes(k)]
    return jobs


def part_parallel(results: Results, plan: Plan) -> str:
    """Per k and mode: medians, a Mann-Whitney U test of tunefleet against Optuna, and what
    is kept of the sequential result: (random - best_k) / (random - best_1), medians, where
    random is tunefleet's random search with the same budget (1.00: as good as sequential)."""
    lines = [f"best value with k trials pending (tpe: after {plan.trials} trials, median of "
             f"{plan.par_seeds} seeds from {plan.par_first_seed}; gp: tunefleet only, after "
             f"{plan.gp_par_trials} trials, median of {plan.gp_par_seeds} seeds, numeric problems "
             "only; Optuna's GP is not run, at about 0.3 s an ask and more with k pending); "
             "kept: (random - k) / (random - sequential); p: two-sided Mann-Whitney U",
             f"{'function':18} {'sampler':7} {'k':>3} {'mode':>5} {'tunefleet':>11} {'kept':>6} "
             f"{'optuna':>11} {'kept':>6} {'p':>6}  {'better':9}"]
    for name in plan.par_problems:
        for kind in ("tpe", "gp"):
            if kind == "gp" and name not in NUMERIC:
                continue
            seeds, n = ((range(plan.gp_par_seeds), plan.gp_par_trials) if kind == "gp"
                        else (par_seeds(plan), plan.trials))

            def med(lib: str, key: tuple[int, str], kind: str = kind, n: int = n,
                    seeds: range = seeds, name: str = name) -> tuple[float, list[float]]:
                vals = [results[(lib, kind, name, s, n if kind != "random" else plan.trials, *key)][n - 1]
                        for s in seeds]
                return float(np.median(vals)), vals

            rand = med("tunefleet", (1, "sync"), "random")[0]
            for k in plan.batches:
                for mode in modes(k):
                    ours, ov = med("tunefleet", (k, mode))
                    kept_o = (rand - ours) / (rand - med("tunefleet", (1, "sync"))[0])
                    if kind == "gp" or not plan.par_optuna:
                        lines.append(f"{name:18} {kind:7} {k:>3} {mode:>5} {fmt(ours):>11} {kept_o:>6.2f} "
                                     f"{'-':>11} {'-':>6} {'-':>6}  -")
                        continue
                    theirs, tv = med("optuna", (k, mode))
                    kept_t = (rand - theirs) / (rand - med("optuna", (1, "sync"))[0])
                    p, better = u_test(ov, tv)
                    lines.append(f"{name:18} {kind:7} {k:>3} {mode:>5} {fmt(ours):>11} {kept_o:>6.2f} "
                                 f"{fmt(theirs):>11} {kept_t:>6.2f} {p:>6.2f}  {better}")
    return "\n".join(lines)


def estimate(job: RunJob) -> float:
    """A rough cost of a run, to start the slow ones first."""
    lib, kind, name, _, trials, k, _ = job
    per = {("optuna", "gp"): 300.0, ("tunefleet", "gp"): 30.0, ("optuna", "tpe"): 10.0,
           ("tunefleet", "tpe"): 3.0}.get((lib, kind), 1.0)
    return per * trials * (trials / 300 if kind == "tpe" and name == "zdt1" else 1.0) * (1 + k / 64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer seeds, trials and sizes")
    ap.add_argument("--parts", nargs="+", default=["cost", "efficiency", "parallel"],
                    choices=["cost", "efficiency", "parallel"])
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--par-seeds", type=int, metavar="N",
                    help="parallel part: TPE's seeds (default 20; 4 with --quick)")
    ap.add_argument("--first-seed", type=int, default=0, metavar="S",
                    help="parallel part: TPE's seeds start here (default 0), to check a result on "
                         "seeds it was not tuned on")
    ap.add_argument("--no-optuna", action="store_true",
                    help="parallel part: tunefleet's TPE only (Optuna's asks with 64 pending take "
                         "about 3x as long; with many seeds, most of the run)")
    ap.add_argument("--default-malloc", action="store_true",
                    help="leave glibc's malloc at its defaults (the coordinator raises its "
                         "thresholds: tunefleet/coordinator/memory.py)")
    args = ap.parse_args()
    plan = QUICK if args.quick else FULL
    if args.par_seeds is not None and args.par_seeds < 1:
        sys.exit(f"--par-seeds must be at least 1, got {args.par_seeds}")
    if args.first_seed < 0:
        sys.exit(f"--first-seed must be at least 0, got {args.first_seed}")
    plan = replace(plan, par_seeds=plan.par_seeds if args.par_seeds is None else args.par_seeds,
                   par_first_seed=args.first_seed, par_optuna=not args.no_optuna)
    if {"cost", "efficiency"} & set(args.parts) and importlib.util.find_spec("torch") is None:
        # found out before the runs, not when the first GP cell fails minutes into them
        sys.exit("Optuna's GPSampler needs torch, which is not installed: "
                 "pip install torch==2.13.0 (or run --parts parallel, which has no Optuna GP)")
    start = time.perf_counter()
    init = None if args.default_malloc else keep_freed_memory
    with ProcessPoolExecutor(max_workers=args.jobs, initializer=init) as pool:
        if "cost" in args.parts:
            print("## 1. Cost\n\n" + part_cost(pool, plan) + "\n", flush=True)
            print(f"(cost: {time.perf_counter() - start:.0f} s)\n", flush=True)
        jobs = (efficiency_jobs(plan) if "efficiency" in args.parts else []) + (
            parallel_jobs(plan) if "parallel" in args.parts else [])
        jobs = sorted(set(jobs), key=estimate, reverse=True)
        results: Results = {}
        spent: dict[str, float] = {}  # CPU-ish seconds by library and sampler
        for job, values, seconds in pool.map(run_cell, jobs, chunksize=1):
            results[job] = values
            key = f"{job[0]} {job[1]}{' zdt1' if job[2] == 'zdt1' else ''}{' k>1' if job[5] > 1 else ''}"
            spent[key] = spent.get(key, 0.0) + seconds
    if "efficiency" in args.parts:
        print("## 2. Sample efficiency\n\n" + part_efficiency(results, plan) + "\n")
        print("## 2b. Multi-objective: ZDT1 (10 dims)\n\n" + part_multi(results, plan) + "\n")
    if "parallel" in args.parts:
        print("## 3. Parallel efficiency\n\n" + part_parallel(results, plan) + "\n")
    print("seconds spent in runs: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(spent.items())))
    print(f"({time.perf_counter() - start:.0f} s, {args.jobs} processes, optuna {optuna.__version__})")


if __name__ == "__main__":
    main()
