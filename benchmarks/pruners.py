"""The cost of one report + pruning decision, tunefleet's pruners beside Optuna's, and
whether they decide alike.

    python benchmarks/pruners.py                      # n = 1,000, 10,000, 100,000
    python benchmarks/pruners.py --sizes 1000 10000 --histories 5

Needs optuna (the ``bench`` extra). For each pruner (SuccessiveHalving, Hyperband,
Median) and each n, a history of n finished trials is made once, through tunefleet's
real commands (ask, one report per step, tell) with that pruner deciding, and copied
into an Optuna study (InMemoryStorage, ``add_trials`` of ``create_trial``s carrying the
same intermediate values and, for the halving pruners, the same ``completed_rung_k``
system attrs). Then new trials report in both, and what is timed is one report and its
decision at the first step where the pruner has work to do (the trial's first rung, or
step 1 for Median): ``Study.report`` for tunefleet (journal event included; the
``on_report`` column is the decision alone) and ``trial.report`` + ``trial.should_prune``
for Optuna, summed up the same way for both (``typical``). Optuna is timed for at most
``--seconds`` per cell, and skipped at a size whose history alone would take more than
a minute to build. The history column is the time to build tunefleet's history.

The agreement check plays random asynchronous histories (ties, NaN, trials skipping
steps) in both libraries in lock step and counts decisions that differ.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import math
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import optuna  # noqa: E402

from tunefleet.core.replies import PruneAnswer, TrialAssigned  # noqa: E402
from tunefleet.core.settings import Direction, PluginSpec, StudySettings  # noqa: E402
from tunefleet.core.study import Study  # noqa: E402
from tunefleet.core.trial import TrialState  # noqa: E402
from tunefleet.pruners import HyperbandPruner, MedianPruner, SuccessiveHalvingPruner  # noqa: E402
from tunefleet.pruners.base import Pruner  # noqa: E402
from tunefleet.samplers import RandomSampler  # noqa: E402

OT = optuna.trial.TrialState
STATES = {TrialState.COMPLETE: OT.COMPLETE, TrialState.PRUNED: OT.PRUNED, TrialState.FAIL: OT.FAIL}


class Ours:
    """A tunefleet Study driven by hand, in-process."""

    def __init__(self, pruner: Pruner, direction: str = "minimize") -> None:
        settings = StudySettings(directions=(Direction(direction),), pruner=PluginSpec("median"))
        self.study = Study("0", settings, RandomSampler(), pruner)
        self.pruner = pruner

    def start(self) -> int:
        reply = self.study.ask("w", request_id=None, now=0.0)[1]
        assert isinstance(reply, TrialAssigned)
        return reply.number

    def report(self, number: int, step: int, value: float) -> bool:
        reply = self.study.report(number, {step: value}, request_id=None, now=0.0)[1]
        assert isinstance(reply, PruneAnswer)
        return reply.prune

    def finish(self, number: int, pruned: bool, value: float) -> None:
        state = TrialState.PRUNED if pruned else TrialState.COMPLETE
        self.study.tell(number, state, values=None if pruned else value, request_id=None, now=0.0)


def curve(rng: np.random.Generator, steps: int, nan: float = 0.0, levels: int = 0) -> dict[int, float]:
    """A learning curve: a level of its own, improving with steps, with noise."""
    base = rng.uniform()
    if levels:  # few distinct values: many ties
        values = rng.integers(0, levels, size=steps).astype(float)
    else:
        values = base + 1.0 / (np.arange(steps) + 1.0) + 0.05 * rng.standard_normal(steps)
    out = {s: float(v) for s, v in enumerate(values)}
    for s in range(steps):
        if nan and rng.uniform() < nan:
            out[s] = math.nan
    return out


# ---- the cost of a decision --------------------------------------------------------------
@dataclasses.dataclass
class Kind:
    name: str
    ours: Callable[[], Pruner]
    theirs: Callable[[], optuna.pruners.BasePruner]
    steps: int  # each history trial reports steps 0 .. steps-1 until pruned
    first_rung: Callable[[Pruner, Ours, int], int]  # the step to time for a new trial
    rungs: Callable[[Pruner, Ours, int], list[int]]  # a finished trial's rung steps (0 .. rung-1)


def _asha_rungs(pruner: Pruner, ours: Ours, number: int) -> list[int]:
    assert isinstance(pruner, SuccessiveHalvingPruner)
    r = pruner.resolved_min_resource(ours.study.view) or 1
    k = ours.study.trial(number).rung or 0
    return [r * pruner.reduction_factor ** (pruner.min_early_stopping_rate + j) for j in range(k)]


def _hb_rungs(pruner: Pruner, ours: Ours, number: int) -> list[int]:
    assert isinstance(pruner, HyperbandPruner)
    b = pruner.bracket_of(number, ours.study.view)
    k = ours.study.trial(number).rung or 0
    return [pruner.min_resource * pruner.reduction_factor ** (b + j) for j in range(k)]


def _hb_first(pruner: Pruner, ours: Ours, number: int) -> int:
    assert isinstance(pruner, HyperbandPruner)
    return pruner.min_resource * pruner.reduction_factor ** pruner.bracket_of(number, ours.study.view)


KINDS = [
    Kind("SuccessiveHalving",
         lambda: SuccessiveHalvingPruner(min_resource=1, reduction_factor=4),
         lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=4),
         32, lambda p, o, n: 1, _asha_rungs),
    Kind("Hyperband",
         lambda: HyperbandPruner(min_resource=1, max_resource=27, reduction_factor=3, seed=0),
         lambda: optuna.pruners.HyperbandPruner(min_resource=1, max_resource=27, reduction_factor=3),
         28, _hb_first, _hb_rungs),
    Kind("Median", lambda: MedianPruner(), lambda: optuna.pruners.MedianPruner(), 16,
         lambda p, o, n: 1, lambda p, o, n: []),
]


def build_ours(kind: Kind, n: int, rng: np.random.Generator) -> Ours:
    ours = Ours(kind.ours())
    for _ in range(n):
        number = ours.start()
        c = curve(rng, kind.steps)
        pruned = False
        for step in range(kind.steps):
            if ours.report(number, step, c[step]):
                pruned = True
                break
        ours.finish(number, pruned, c[kind.steps - 1])
    return ours


def copy_to_optuna(kind: Kind, ours: Ours) -> optuna.Study:
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage(), study_name="0",
                                pruner=kind.theirs())
    frozen = []
    for r in ours.study.trials:
        if not r.state.is_finished():
            continue
        attrs = {}
        for j, at in enumerate(kind.rungs(ours.pruner, ours, r.number)):
            first = min(s for s in r.intermediate if s >= at)
            attrs[f"completed_rung_{j}"] = r.intermediate[first]
        frozen.append(optuna.trial.create_trial(
            state=STATES[r.state], value=None if r.values is None else r.values[0], params={},
            distributions={}, intermediate_values=dict(r.intermediate), system_attrs=attrs))
    study.add_trials(frozen)
    return study


def typical(ns: list[int]) -> float:
    """µs per call from per-call nanoseconds: the lowest median of five consecutive blocks
    (as timeit's best of repeats: a shared machine's slow spells last seconds)."""
    blocks = np.array_split(np.asarray(ns, dtype=float), min(5, len(ns)))
    return float(min(np.median(b) for b in blocks)) / 1e3


def time_ours(kind: Kind, ours: Ours, count: int, rng: np.random.Generator) -> tuple[float, float]:
    """µs per Study.report (report + decision + journal event), and per on_report alone."""
    total, alone = [], []
    gc.collect()
    for _ in range(count):
        number = ours.start()
        step = kind.first_rung(ours.pruner, ours, number)
        ours.report(number, 0, float(rng.uniform(1, 2)))
        value = float(rng.uniform(1, 2))
        record = ours.study.trial(number)
        seen = dataclasses.replace(record, intermediate={**record.intermediate, step: value})
        t0 = time.perf_counter_ns()
        ours.pruner.on_report(ours.study.view, seen, step, value)  # pure: the report decides again
        t1 = time.perf_counter_ns()
        ours.report(number, step, value)
        t2 = time.perf_counter_ns()
        alone.append(t1 - t0)
        total.append(t2 - t1)
    return typical(total), typical(alone)


def time_optuna(kind: Kind, ours: Ours, study: optuna.Study, count: int, seconds: float,
                rng: np.random.Generator) -> float:
    """µs per trial.report + trial.should_prune, for at most ``seconds`` (5 calls at least)."""
    spent: list[float] = []
    gc.collect()
    while len(spent) < count and (len(spent) < 5 or sum(spent) < seconds * 1e9):
        trial = study.ask()
        step = kind.first_rung(ours.pruner, ours, trial.number)
        trial.report(float(rng.uniform(1, 2)), 0)
        value = float(rng.uniform(1, 2))
        t0 = time.perf_counter_ns()
        trial.report(value, step)
        trial.should_prune()
        spent.append(time.perf_counter_ns() - t0)
    return typical(spent)


def slope(ns: list[int], costs: list[float]) -> float:
    if len(ns) < 2:
        return math.nan
    return float(np.polyfit(np.log(ns), np.log(costs), 1)[0])


def cost_table(sizes: list[int], seconds: float) -> None:
    print("µs per report + decision at n finished trials"
          " (tunefleet in-process vs Optuna InMemoryStorage)")
    print(f"{'pruner':<18}{'n':>9}{'tunefleet':>11}{'on_report':>11}{'optuna':>11}{'ratio':>9}"
          f"{'history':>10}")
    for kind in KINDS:
        mine: list[float] = []
        decision: list[float] = []
        theirs: list[tuple[int, float]] = []
        build_rate = None  # seconds per trial to build Optuna's history
        for n in sizes:
            rng = np.random.default_rng(n)
            t0 = time.perf_counter()
            ours = build_ours(kind, n, rng)
            built = time.perf_counter() - t0
            count = max(min(2000, n // 10), 50)
            us, alone = time_ours(kind, ours, count, rng)
            mine.append(us)
            decision.append(alone)
            theirs_us = math.nan
            if build_rate is None or build_rate * n < 60.0:
                t0 = time.perf_counter()
                study = copy_to_optuna(kind, ours)
                build_rate = (time.perf_counter() - t0) / n
                theirs_us = time_optuna(kind, ours, study, count, seconds, rng)
                theirs.append((n, theirs_us))
                del study
            ratio = f"{theirs_us / us:>8.0f}x" if not math.isnan(theirs_us) else f"{'-':>9}"
            other = f"{theirs_us:>11.1f}" if not math.isnan(theirs_us) else f"{'-':>11}"
            print(f"{kind.name:<18}{n:>9,}{us:>11.1f}{alone:>11.1f}{other}{ratio}{built:>9.1f}s")
        print(f"{'':<18}{'slope':>9}{slope(sizes, mine):>+11.2f}{slope(sizes, decision):>+11.2f}"
              f"{slope([n for n, _ in theirs], [c for _, c in theirs]):>+11.2f}"
              "   (growth exponent: d log cost / d log n)")


# ---- do they decide alike? ------------------------------------------------------------------
@dataclasses.dataclass
class Case:
    label: str
    ours: Callable[[], Pruner]
    theirs: Callable[[], optuna.pruners.BasePruner]
    steps: int = 20
    same_length: bool = False  # all trials report every step (for "auto" resources)


CASES = [
    Case("SH r=1 eta=4", lambda: SuccessiveHalvingPruner(min_resource=1),
         lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1)),
    Case("SH r=1 eta=2", lambda: SuccessiveHalvingPruner(min_resource=1, reduction_factor=2),
         lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2)),
    Case("SH r=2 eta=3 s=1", lambda: SuccessiveHalvingPruner(min_resource=2, reduction_factor=3,
                                                             min_early_stopping_rate=1),
         lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=2, reduction_factor=3,
                                                         min_early_stopping_rate=1), steps=40),
    Case("SH r=1 eta=2 bootstrap=3",
         lambda: SuccessiveHalvingPruner(min_resource=1, reduction_factor=2, bootstrap_count=3),
         lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2,
                                                         bootstrap_count=3)),
    Case("SH auto", lambda: SuccessiveHalvingPruner(), lambda: optuna.pruners.SuccessiveHalvingPruner(),
         steps=260, same_length=True),
    Case("Hyperband max=27", lambda: HyperbandPruner(max_resource=27),
         lambda: optuna.pruners.HyperbandPruner(max_resource=27), steps=30),
    Case("Median", lambda: MedianPruner(n_startup_trials=3),
         lambda: optuna.pruners.MedianPruner(n_startup_trials=3)),
    Case("Median warmup/interval",
         lambda: MedianPruner(n_startup_trials=2, n_warmup_steps=3, interval_steps=4),
         lambda: optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=3, interval_steps=4)),
]


def agree(case: Case, seed: int, direction: str, trials: int) -> tuple[int, int, bool]:
    """(decisions compared, decisions that differ, whether a trial was past the first rung
    step when "auto" resources became known) on one random asynchronous history."""
    rng = np.random.default_rng(seed)
    ours = Ours(case.ours(), direction)
    theirs = optuna.create_study(storage=optuna.storages.InMemoryStorage(), study_name="0",
                                 direction=optuna.study.StudyDirection[direction.upper()],
                                 pruner=case.theirs())
    waiting = [curve(rng, case.steps if case.same_length else int(rng.integers(1, case.steps + 1)),
                     nan=0.02, levels=int(rng.choice([0, 4]))) for _ in range(trials)]
    width = int(rng.integers(1, 8))
    running: list[tuple[int, Any, dict[int, float], list[int]]] = []
    compared = differ = 0
    at_estimate: dict[int, int] | None = None  # running trials' last steps at the first COMPLETE
    while waiting or running:
        while waiting and len(running) < width:
            c = waiting.pop()
            steps = sorted(s for s in c if case.same_length or rng.uniform() < 0.8) or [max(c)]
            number, trial = ours.start(), theirs.ask()
            assert trial.number == number
            running.append((number, trial, c, steps))
        slot = int(rng.integers(len(running)))
        number, trial, c, steps = running[slot]
        if not steps:
            running.pop(slot)
            last = c[max(c)]
            ours.finish(number, False, last)
            theirs.tell(trial, last)
            if at_estimate is None and not math.isnan(last):
                at_estimate = {n: max(ours.study.trial(n).intermediate, default=-1) for n, *_ in running}
            continue
        step = steps.pop(0)
        mine = ours.report(number, step, c[step])
        trial.report(c[step], step)
        other = trial.should_prune()
        compared += 1
        differ += mine != other
        if mine or other:
            running.pop(slot)
            ours.finish(number, True, c[step])
            theirs.tell(trial, state=OT.PRUNED)
    late = False
    pruner = ours.pruner
    if at_estimate and isinstance(pruner, SuccessiveHalvingPruner) and pruner.min_resource == "auto":
        r = pruner.resolved_min_resource(ours.study.view) or 1
        first = r * pruner.reduction_factor ** pruner.min_early_stopping_rate
        late = any(step >= first for step in at_estimate.values())
    return compared, differ, late


def agreement(histories: int, trials: int) -> None:
    print(f"\nagreement with Optuna's pruners on the same random histories ({histories} per row and"
          f" direction, {trials} trials each, ties, 2% NaN, skipped steps, 1-7 trials at once)")
    print(f"{'case':<26}{'decisions':>11}{'differ':>8}")
    notes = []
    for case in CASES:
        compared = differ = late_histories = late_differ = 0
        for seed in range(histories):
            for direction in ("minimize", "maximize"):
                c, d, late = agree(case, seed, direction, trials)
                compared, differ = compared + c, differ + d
                late_histories += late
                late_differ += d if late else 0
        mark = " *" if late_histories else ""
        print(f"{case.label:<26}{compared:>11,}{differ:>8}{mark}")
        if late_histories:
            notes.append(
                f"* {case.label}: {late_differ} of the {differ} differing decisions are in the"
                f" {late_histories} of {2 * histories} histories where trials were already past the"
                " first rung step when the first trial completed and fixed min_resource: Optuna then"
                " ranks their newest value, tunefleet their value at the rung's step (what a restart"
                " can rebuild); the rungs differ from there on.")
    for note in notes:
        print(note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--seconds", type=float, default=2.0, help="Optuna timing budget per cell")
    parser.add_argument("--histories", type=int, default=10)
    parser.add_argument("--trials", type=int, default=80)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    print(f"optuna {optuna.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}\n")
    cost_table(args.sizes, args.seconds)
    agreement(args.histories, args.trials)


if __name__ == "__main__":
    main()
