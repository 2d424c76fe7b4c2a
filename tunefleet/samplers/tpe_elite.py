"""TPE's elite kernel: while trials run, l(x) also holds a kernel at the weighted mean of
the best good trials, as wide as their weighted spread.

A fleet of k workers asks k - 1 points while trials run, each from the same finished
trials, so it learns in rounds: with 64 workers and 300 trials, about five. TPE's l(x) is a
mixture of kernels at single good trials, each at least 1 / min(100, n_good + 2) of the
range wide, so a round of asks spreads around its best trials at that scale however
close they have come to an optimum, and refines slowly. The elite kernel is the step of an
evolution strategy with weighted recombination (Hansen, "The CMA Evolution Strategy: A
Tutorial", arXiv:1604.00772, its default weights) and of the cross-entropy method: its
centre, the weighted mean of the best half of the good trials, is closer to an optimum than
any one of them when they surround it, and its width, their spread, shrinks as they close
in, round after round. On a categorical axis it keeps each elite's own choice, with that
elite's weight.

``TPESampler`` mixes it into l(x) with the share ``ELITE_SHARE`` while trials run (where
``_lean`` acts); candidates are drawn from the mixture and scored by log l(x) - log g(x)
as ever. With no trial running, l(x) is Optuna's. Measured in ``benchmarks/README.md``,
part 3.
"""

from __future__ import annotations

import math

import numpy as np

from tunefleet.samplers.parzen import CAT, Axis, Parzen, floor_width

ELITE_SHARE = 0.5  # l(x)'s share held by the elite kernel while trials run
_LEAST_WIDTH = 0.5  # the elite kernel's least width, as a share of l's least (floor_width)
_LEAST_GOOD = 3  # fewer good trials than this give no elite kernel


def elite_weights(ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The elites among good trials ranked ``ranks`` (0 for the best, any order): their
    positions in ``ranks``, best first, and their weights, ln(mu + 1/2) - ln(i) for the
    i-th best of the mu = half (rounded, at least 2), summing to 1. None for fewer than
    ``_LEAST_GOOD`` good trials."""
    n = len(ranks)
    if n < _LEAST_GOOD:
        return None
    mu = max(2, int(round(n / 2)))
    at = np.argsort(ranks, kind="stable")[:mu]
    w = math.log(mu + 0.5) - np.log(np.arange(1, mu + 1))
    return at, w / w.sum()


def elite_kernel(
    axes: list[Axis], good_obs: np.ndarray, ranks: np.ndarray, *, consider_endpoints: bool
) -> Parzen | None:
    """The elite kernel of a block as a ``Parzen`` (so that its ``log_pdf`` and l's share
    their constants): one kernel per elite, each at the elites' weighted mean on every
    numeric axis and at its own choice on every categorical one, as wide as the elites'
    weighted standard deviation on each numeric axis, but never narrower than half of l's
    least width, 1 / min(100, n_good + 2).

    The least width matters: scored as part of l, a kernel much narrower than l's gives its
    own candidates a density that wins the argmax whatever g says, and while few trials
    are good, two or three elites can agree closely by chance. Without it, asks made one
    param at a time (``multivariate=False``, or the first asks of a define-by-run study)
    collapsed onto such points: Rosenbrock-6 on [-5, 10], 32 workers, 5 rounds, median 881
    against 140 without the kernel; 102 with half l's floor, 216 with all of it. On a block
    of categorical params only, the kernel is the elites' choices with their weights.

    ``good_obs``: the good trials' rows ([0, 1] positions, choice indices), ``ranks`` theirs.
    None with too few good trials."""
    chosen = elite_weights(ranks)
    if chosen is None:
        return None
    at, w = chosen
    rows = good_obs[at].astype(float)
    num = [i for i, a in enumerate(axes) if a.kind != CAT]
    centre = w @ rows[:, num]
    spread = np.sqrt(w @ (rows[:, num] - centre) ** 2)
    rows[:, num] = centre
    return Parzen(axes, rows, w, prior_weight=0.0, consider_endpoints=consider_endpoints,
                  sigmas=np.maximum(spread, _LEAST_WIDTH * floor_width(len(good_obs))))


def elite_count(rng: np.random.Generator, size: int) -> int:
    """How many of ``size`` candidates the elite kernel draws: a binomial draw with
    ``ELITE_SHARE``, so that the candidates are drawn from the mixture."""
    return int(rng.binomial(size, ELITE_SHARE))


def with_elite(log_l: np.ndarray, log_elite: np.ndarray) -> np.ndarray:
    """log of the mixture (1 - ELITE_SHARE) l(x) + ELITE_SHARE e(x), from log l and log e."""
    return np.logaddexp(math.log1p(-ELITE_SHARE) + log_l, math.log(ELITE_SHARE) + log_elite)
