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

Once there are enough good trials (``_newton_step``), the centre then takes one step to the
least of a separable quadratic fitted to the good trials' ranks, at most ``_TRUST`` spreads
long on each axis: the step of response-surface methodology (Box & Wilson, "On the
experimental attainment of optimum conditions", JRSS B, 1951). Fitted to ranks, not values,
it keeps TPE's invariance to any increasing transformation of the objective. The weighted
mean alone closes in on an optimum only as fast as the elites' spread shrinks; the model's
least reaches past the elites when they sit on one side of it, as they do while a fleet
descends a slope or a basin in rounds.

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
_TRUST = 2.0  # the quadratic's step, at most this many of the elites' spreads on each axis


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
    numeric axis (moved by ``_newton_step``) and at its own choice on every categorical
    one, as wide as the elites' weighted standard deviation on each numeric axis, but never
    narrower than half of l's least width, 1 / min(100, n_good + 2).

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
    widths = np.maximum(spread, _LEAST_WIDTH * floor_width(len(good_obs)))
    rows[:, num] = _newton_step(good_obs[:, num].astype(float), ranks, centre, widths)
    return Parzen(axes, rows, w, prior_weight=0.0, consider_endpoints=consider_endpoints,
                  sigmas=widths)


def _newton_step(pos: np.ndarray, ranks: np.ndarray, centre: np.ndarray,
                 widths: np.ndarray) -> np.ndarray:
    """``centre`` moved to the least of rank ~ c + sum_j (b_j z_j + a_j z_j^2), fitted by
    least squares to the good trials (``pos``, their numeric [0, 1] positions, and their
    ``ranks``) with z = (x - centre) / widths: on each axis where the fit curves upwards
    (a_j > 0), by -b_j / (2 a_j) widths, at most ``_TRUST``; elsewhere not at all. Kept in
    [0, 1]. Unmoved with fewer than 2 d + 3 good trials for d axes (the fit's 2 d + 1
    terms and two more), so with up to 25 good trials it acts on blocks of up to 11
    numeric params."""
    n, d = pos.shape
    if d == 0 or n < 2 * d + 3:
        return centre
    z = (pos - centre) / widths
    design = np.hstack([np.ones((n, 1)), z, z * z])
    coef = np.linalg.lstsq(design, ranks.astype(float), rcond=None)[0]
    b, a = coef[1 : 1 + d], coef[1 + d :]
    curved = a > 1e-12
    step = np.zeros(d)
    step[curved] = np.clip(-b[curved] / (2.0 * a[curved]), -_TRUST, _TRUST)
    return np.clip(centre + step * widths, 0.0, 1.0)


def elite_count(rng: np.random.Generator, size: int) -> int:
    """How many of ``size`` candidates the elite kernel draws: a binomial draw with
    ``ELITE_SHARE``, so that the candidates are drawn from the mixture."""
    return int(rng.binomial(size, ELITE_SHARE))


def with_elite(log_l: np.ndarray, log_elite: np.ndarray) -> np.ndarray:
    """log of the mixture (1 - ELITE_SHARE) l(x) + ELITE_SHARE e(x), from log l and log e."""
    return np.logaddexp(math.log1p(-ELITE_SHARE) + log_l, math.log(ELITE_SHARE) + log_elite)
