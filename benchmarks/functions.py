"""Test functions for the sampler benchmarks, written as define-by-run objectives.

Each ``Problem`` holds a name, an objective that takes anything with Optuna's
``suggest_float / suggest_int / suggest_categorical`` (a tunefleet trial shim or an
``optuna.Trial``), and the known optimum. Minimisation throughout. Formulas and domains
as in the Virtual Library of Simulation Experiments (Surjanovic & Bingham, SFU).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class Suggests(Protocol):
    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False,
                      step: float | None = None) -> float: ...

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False, step: int = 1) -> int: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


@dataclass(frozen=True)
class Problem:
    """A benchmark problem: ``objective(trial) -> float`` to minimise, and its optimum (for
    a multi-objective problem, a tuple of floats and the hypervolume of its Pareto front)."""

    name: str
    objective: Callable[[Suggests], Any]
    optimum: float


def _floats(t: Suggests, n: int, low: float, high: float) -> np.ndarray:
    return np.array([t.suggest_float(f"x{i}", low, high) for i in range(n)])


def branin(t: Suggests) -> float:
    x1, x2 = t.suggest_float("x1", -5.0, 10.0), t.suggest_float("x2", 0.0, 15.0)
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


_H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(t: Suggests) -> float:
    x = _floats(t, 6, 0.0, 1.0)
    return float(-np.sum(_H6_ALPHA * np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1))))


def rosenbrock10(t: Suggests) -> float:
    x = _floats(t, 10, -5.0, 10.0)
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (x[:-1] - 1) ** 2))


def ackley10(t: Suggests) -> float:
    x = _floats(t, 10, -32.768, 32.768)
    n = len(x)
    return float(-20 * math.exp(-0.2 * math.sqrt(np.sum(x**2) / n))
                 - math.exp(np.sum(np.cos(2 * math.pi * x)) / n) + 20 + math.e)


def styblinski_tang10(t: Suggests) -> float:
    x = _floats(t, 10, -5.0, 5.0)
    return float(np.sum(x**4 - 16 * x**2 + 5 * x) / 2)


_OFFSETS = {"a": 0.0, "b": 0.35, "c": 0.9, "d": 1.6}


def mixed(t: Suggests) -> float:
    """Four categoricals (each moves the optimum of the floats and adds a cost), four floats
    (one on a log scale), two ints (one with a step)."""
    cats = [t.suggest_categorical(f"c{i}", ["a", "b", "c", "d"]) for i in range(4)]
    shift = sum(_OFFSETS[c] for c in cats) / 4
    x = _floats(t, 3, -2.0, 2.0)
    lr = t.suggest_float("lr", 1e-5, 1.0, log=True)
    n = t.suggest_int("n", 1, 64)
    k = t.suggest_int("k", 0, 100, step=5)
    return float(np.sum((x - shift) ** 2) + (math.log10(lr) + 2.5) ** 2 / 4 + abs(n - 17) / 16
                 + ((k - 35) / 50) ** 2 + sum(_OFFSETS[c] for c in cats[:2]))


def conditional(t: Suggests) -> float:
    """A model choice with its own params per branch, in the style of Hyperopt's hp.choice:
    the best branch ("mlp") is the hardest to tune."""
    model = t.suggest_categorical("model", ["linear", "forest", "mlp"])
    if model == "linear":
        c = t.suggest_float("linear_c", 1e-4, 1e2, log=True)
        return 1.0 + (math.log10(c) - 0.5) ** 2 / 10
    if model == "forest":
        depth = t.suggest_int("forest_depth", 1, 32)
        trees = t.suggest_int("forest_trees", 10, 1000, log=True)
        return 0.6 + abs(depth - 12) / 40 + (math.log10(trees) - 2.5) ** 2 / 8
    width = t.suggest_int("mlp_width", 8, 512, log=True)
    lr = t.suggest_float("mlp_lr", 1e-5, 1e-1, log=True)
    drop = t.suggest_float("mlp_dropout", 0.0, 0.8)
    act = t.suggest_categorical("mlp_act", ["relu", "tanh", "gelu"])
    return (0.2 + (math.log2(width) - 7) ** 2 / 20 + (math.log10(lr) + 3) ** 2 / 3
            + (drop - 0.25) ** 2 + {"relu": 0.05, "tanh": 0.2, "gelu": 0.0}[act])


def zdt1(t: Suggests) -> tuple[float, float]:
    """ZDT1 in 10 dims (Zitzler, Deb & Thiele, "Comparison of Multiobjective Evolutionary
    Algorithms: Empirical Results", Evol. Comput. 8(2), 2000): two objectives, a convex front
    f2 = 1 - sqrt(f1) where x1..x9 = 0."""
    x = _floats(t, 10, 0.0, 1.0)
    g = 1 + 9 * float(np.mean(x[1:]))
    return float(x[0]), g * (1 - math.sqrt(x[0] / g))


def hypervolume_2d(points: np.ndarray, ref: tuple[float, float]) -> float:
    """The area dominated by ``points`` (n x 2, minimised) inside the box below ``ref``."""
    pts = points[(points[:, 0] < ref[0]) & (points[:, 1] < ref[1])]
    if len(pts) == 0:
        return 0.0
    pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]
    area, low = 0.0, ref[1]
    for f1, f2 in pts:
        if f2 < low:
            area += (ref[0] - f1) * (low - f2)
            low = f2
    return area


def sphere(n: int) -> Callable[[Suggests], float]:
    return lambda t: float(np.sum((_floats(t, n, -5.0, 5.0) - 1.0) ** 2))


PROBLEMS: list[Problem] = [
    Problem("branin", branin, 0.397887),
    Problem("hartmann6", hartmann6, -3.32237),
    Problem("rosenbrock10", rosenbrock10, 0.0),
    Problem("ackley10", ackley10, 0.0),
    Problem("styblinski_tang10", styblinski_tang10, -39.16617 * 10),
    Problem("mixed", mixed, 0.0),
    Problem("conditional", conditional, 0.2),
]

HV_REF = (1.1, 1.1)
# The front's hypervolume: the integral of 1.1 - (1 - sqrt(f1)) over [0, 1], plus 0.1 x 1.1.
MULTI_PROBLEMS: list[Problem] = [Problem("zdt1", zdt1, 0.1 + 2 / 3 + 0.11)]
