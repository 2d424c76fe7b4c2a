"""The Parzen estimators of TPE: mixtures of product kernels over a block of params.

Each param is put on an axis scaled to [0, 1] (on a log scale where its
distribution asks, widened by half a step either side where it is discrete), so
that a numeric kernel is a Gaussian truncated to [0, 1] and every numeric axis
looks alike. A mixture holds one kernel per observation plus the prior kernel,
with Optuna's bandwidths (the larger gap to a neighbour, clipped to
[1 / min(100, n + 2), 1]) and Optuna's categorical kernels, so it models what
Optuna's ``_ParzenEstimator`` models.

What is different is the arithmetic, so that ``log_pdf`` at 10,000 kernels
stays cheap: the Gaussian exponents of every numeric axis come from one matrix
product, normalisers are only computed for kernels near an edge, and the exact
probability mass of a discrete value is only computed for kernels narrow enough
for it to differ from the density at the value times the cell's width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from tunefleet.core.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
)

CONT, DISC, CAT = 0, 1, 2
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_EDGE = 9.0  # a kernel further than this many sigmas from both edges has no truncation to speak of
_NARROW = 8.0  # a kernel narrower than this many cells gets its discrete mass exactly
LOG_PRIOR_MASS = math.log(0.38292492254802624)  # the prior kernel's (mu 0.5, sigma 1) on [0, 1]


@dataclass(frozen=True)
class Axis:
    """One param as TPE models it: its kind and the map between internal values and [0, 1].

    ``lo`` and ``span`` are the (log-)range widened by half a step for discrete axes;
    ``low``, ``high`` and ``step`` are the distribution's own, for rounding back to its grid.
    """

    kind: int
    log: bool = False
    lo: float = 0.0
    span: float = 1.0
    low: float = 0.0
    high: float = 0.0
    step: float = 0.0
    n_choices: int = 0

    @classmethod
    def of(cls, dist: Distribution) -> Axis:
        if isinstance(dist, CategoricalDistribution):
            return cls(CAT, n_choices=len(dist.choices))
        low, high = float(dist.low), float(dist.high)
        step = float(dist.step) if dist.step is not None else 0.0
        if isinstance(dist, IntDistribution) and dist.log:
            lo = math.log(low - 0.5)
            return cls(DISC, True, lo, math.log(high + 0.5) - lo, low, high, 1.0)
        if isinstance(dist, IntDistribution) or step > 0:
            return cls(DISC, False, low - step / 2, high - low + step, low, high, step)
        assert isinstance(dist, FloatDistribution)
        if dist.log and math.log(high) > math.log(low):  # (a range a few ulps wide is not)
            lo = math.log(low)
            return cls(CONT, True, lo, math.log(high) - lo, low, high)
        return cls(CONT, False, low, high - low, low, high)

    def to_unit(self, x: np.ndarray) -> np.ndarray:
        """Internal values -> [0, 1]."""
        y = np.log(x) if self.log else x
        return np.clip((y - self.lo) / self.span, 0.0, 1.0)

    def from_unit(self, t: np.ndarray) -> np.ndarray:
        """[0, 1] -> internal values of the distribution (on its grid, inside its bounds)."""
        y = self.lo + np.clip(t, 0.0, 1.0) * self.span
        x = np.exp(y) if self.log else y
        if self.kind == DISC:
            x = self.low + np.round((x - self.low) / self.step) * self.step
        return np.clip(x, self.low, self.high)

    def cell(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The [0, 1] bounds of the cell of each value of a discrete axis."""
        left, right = x - self.step / 2, x + self.step / 2
        if self.log:
            left, right = np.log(left), np.log(right)
        return (left - self.lo) / self.span, (right - self.lo) / self.span


def floor_width(n: int) -> float:
    """The least width of the kernels of n observations: Optuna's clip, 1 / min(100, n + 2)."""
    return 1.0 / min(100.0, n + 2.0)


def log_unit_mass(mu: np.ndarray, sig: np.ndarray | float) -> np.ndarray:
    """log of the mass on [0, 1] of Gaussian kernels centred in [0, 1] and no wider than it:
    0 where both edges are more than _EDGE sigmas away. Such a mass is 0.34 at least, so
    1 minus the two tails loses nothing to rounding."""
    mu = np.asarray(mu, dtype=float)
    sig = np.broadcast_to(np.asarray(sig, dtype=float), mu.shape)
    out = np.zeros(mu.shape)
    left, right = mu < _EDGE * sig, 1.0 - mu < _EDGE * sig
    near = left | right
    if near.any():
        tails = np.zeros(mu.shape)
        tails[left] = special.ndtr(-mu[left] / sig[left])
        tails[right] += special.ndtr((mu[right] - 1.0) / sig[right])
        out[near] = np.log1p(-tails[near])
    return out


def finite_log(x: np.ndarray) -> np.ndarray:
    """``x`` with log 0 (a weight of 0) as -1e300: BLAS, meeting -inf, may give NaN."""
    return np.maximum(x, -1e300)


def log_sum_exp(total: np.ndarray, shift: float) -> np.ndarray:
    """log sum_k exp(total[:, k]) + ``shift``, for a mixture's exponents less its shift (see
    ``Parzen``). The terms are at most a few units above 0 (a categorical or exact discrete
    term never exceeds what the shift allows for by more than log 2 pi per axis), so exp
    cannot overflow; a row whose every term underflows (a point far out in every kernel) is
    summed again after its own max."""
    # exp is slow on numbers below its underflow (-745), so they are raised to -700 first
    terms = np.maximum(total, -700.0)
    mass = np.exp(terms, out=terms) @ np.ones(total.shape[1])
    out = np.empty(len(total))
    low = ~(mass > 1e-280)  # underflow (and NaN) is rare: only those rows pay for a max
    with np.errstate(divide="ignore"):
        out[~low] = np.log(mass[~low]) + shift
        if low.any():
            rows = total[low]
            top = rows.max(axis=1)
            top[~np.isfinite(top)] = 0.0
            out[low] = np.log(np.exp(rows - top[:, None]).sum(axis=1)) + top + shift
    return out


def log_gauss_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(Phi(b) - Phi(a)) for a < b, accurate in both tails."""
    out = np.empty(np.broadcast(a, b).shape)
    a, b = np.broadcast_to(a, out.shape), np.broadcast_to(b, out.shape)
    left, right = b <= 0, a > 0
    mid = ~(left | right)
    for mask, lo, hi in ((left, a, b), (right, -b, -a)):
        if mask.any():
            la, lb = special.log_ndtr(lo[mask]), special.log_ndtr(hi[mask])
            with np.errstate(divide="ignore"):
                out[mask] = lb + np.log1p(-np.exp(la - lb))
    if mid.any():
        # The mass outside [a, b] is Phi(a) + Phi(-b); a tail further than _EDGE sigmas is
        # below 1e-19, nothing next to 1, so only the near tails are computed.
        am, bm = a[mid], b[mid]
        tails = np.zeros(am.shape)
        near_a, near_b = am > -_EDGE, bm < _EDGE
        tails[near_a] += special.ndtr(am[near_a])
        tails[near_b] += special.ndtr(-bm[near_b])
        with np.errstate(divide="ignore"):
            out[mid] = np.log1p(-tails)
    return out


def sorted_bandwidths(mu: np.ndarray, consider_endpoints: bool) -> np.ndarray:
    """Optuna's sigmas on [0, 1] of positions sorted along the last axis, in their order:
    the larger gap to a neighbour (the edges count as neighbours), clipped to
    [1 / min(100, n + 2), 1]."""
    n = mu.shape[-1]
    edge = np.zeros(mu.shape[:-1] + (1,))
    s = np.concatenate([edge, mu, edge + 1.0], axis=-1)
    gaps = np.diff(s, axis=-1)
    sig = np.maximum(gaps[..., :-1], gaps[..., 1:])
    if not consider_endpoints and n >= 2:
        sig[..., 0], sig[..., -1] = s[..., 2] - s[..., 1], s[..., -2] - s[..., -3]
    return np.clip(sig, floor_width(n), 1.0)


def bandwidths(mus: np.ndarray, consider_endpoints: bool, order: np.ndarray | None = None) -> np.ndarray:
    """``sorted_bandwidths`` of positions in any order, along the last axis of one row or
    (rows, n); ``order`` sorts each row of ``mus`` (ties in any fixed order)."""
    rows = np.atleast_2d(mus)
    order = np.argsort(rows, axis=1, kind="stable") if order is None else np.atleast_2d(order)
    out = np.empty(rows.shape)
    put_rows(out, order, sorted_bandwidths(take_rows(rows, order), consider_endpoints))
    return out.reshape(mus.shape)


def take_rows(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``a[r, idx[r, j]]`` for a (rows, n) array: ``take_along_axis`` along the last axis,
    as one flat gather (several times faster at thousands of columns)."""
    return np.take(a, idx + a.shape[1] * np.arange(len(a))[:, None])


def merge_rows(
    sorted_rows: np.ndarray, new: np.ndarray, *moved: tuple[np.ndarray, np.ndarray]
) -> list[np.ndarray]:
    """Each row of ``new`` (sorted) merged into the same row of ``sorted_rows`` (sorted), a
    new value after the equal ones; then each (rows, their new entries) of ``moved``
    merged at the same places. Every row grows by ``new``'s width, in one insert."""
    d, n = sorted_rows.shape
    at = np.concatenate([np.searchsorted(sorted_rows[r], new[r], side="right") + r * n
                         for r in range(d)]) if d else np.zeros(0, dtype=np.int64)
    shape = (d, n + new.shape[1])
    return [_insert(a.ravel(), at, b.ravel()).reshape(shape)
            for a, b in ((sorted_rows, new), *moved)]


_SLICED = 64  # _insert copies slices up to this many new values (TPE adds a trial or a few)


def _insert(flat: np.ndarray, at: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.insert(flat, at, values)`` for non-decreasing ``at``: with a few values, the
    runs between them copied as slices (np.insert masks every element, 2.5x the time for 20
    values among 200,000)."""
    if len(at) > _SLICED or np.any(at[1:] < at[:-1]) or (len(at) and at[0] < 0):
        return np.insert(flat, at, values)
    out = np.empty(len(flat) + len(at), dtype=flat.dtype)  # (values cast, as np.insert)
    prev = 0
    for j, p in enumerate(at.tolist()):
        out[prev + j : p + j] = flat[prev:p]
        out[p + j] = values[j]
        prev = p
    out[prev + len(at) :] = flat[prev:]
    return out


def put_rows(out: np.ndarray, idx: np.ndarray, values: np.ndarray) -> None:
    """``out[r, idx[r, j]] = values[r, j]`` for a C-contiguous (rows, n) ``out``, one row
    at a time (``put_along_axis`` builds index arrays for both axes)."""
    for r in range(len(out)):
        out[r, idx[r]] = values[r]


class Parzen:
    """A mixture over a block of axes: one kernel per observation, then the prior kernel.

    ``obs`` is (n, d): [0, 1] positions for numeric axes, choice indices for categorical
    ones. ``weights`` (n,) are the observations' weights before the prior's is appended.
    ``orders`` (numeric axes, n), row j an order that sorts the observations on the j-th
    numeric axis, spares the bandwidths a sort; ``sigmas`` (per numeric axis) gives every
    observation's kernel that width instead.
    """

    def __init__(
        self,
        axes: list[Axis],
        obs: np.ndarray,
        weights: np.ndarray,
        *,
        prior_weight: float,
        consider_endpoints: bool,
        orders: np.ndarray | None = None,
        sigmas: np.ndarray | None = None,
        floor_log_z: np.ndarray | None = None,
    ) -> None:
        n = len(obs)
        self.axes = axes
        w = np.ones(1) if n == 0 else np.append(np.asarray(weights, dtype=float), prior_weight)
        self.weights = w / w.sum()
        with np.errstate(divide="ignore"):  # a prior of weight 0
            self.log_weights = np.log(self.weights)
        self.n = n
        self.prior_weight = prior_weight
        self.num = [i for i, a in enumerate(axes) if a.kind != CAT]
        self.cat = [i for i, a in enumerate(axes) if a.kind == CAT]
        d, k = len(self.num), n + 1
        self.mu = np.empty((d, k))
        self.sigma = np.empty((d, k))
        self.mu[:, :n] = obs[:, self.num].T
        if sigmas is not None:
            self.sigma[:, :n] = np.asarray(sigmas, dtype=float)[:, None]
        else:
            self.sigma[:, :n] = bandwidths(self.mu[:, :n], consider_endpoints, orders)
        self.mu[:, n], self.sigma[:, n] = 0.5, 1.0
        # log of each kernel's mass on [0, 1]; 0 for kernels far from both edges. Kernels at
        # the floor width (most, at thousands of trials) can take theirs from ``floor_log_z``
        # (per numeric axis and observation), which the caller keeps from ask to ask; their
        # log width is the floor's.
        floor = floor_width(n)
        # (given ``sigmas`` may be narrower than the floor: none of them is "at" it)
        at_floor = self.sigma == floor if sigmas is None else np.zeros((d, k), dtype=bool)
        other = np.nonzero(~at_floor)
        log_sigma = np.full((d, k), math.log(floor))
        log_sigma[other] = np.log(self.sigma[other])
        if floor_log_z is None or n == 0:
            log_z = log_unit_mass(self.mu, self.sigma)
        else:
            log_z = np.empty((d, k))
            log_z[:, :n] = floor_log_z
            log_z[other] = log_unit_mass(self.mu[other], self.sigma[other])
        # sum_j log N(t_j; mu_kj, sigma_kj) - log_z_kj + log w_k = [t^2, t, 1] @ coef
        inv2 = 1.0 / (self.sigma * self.sigma)
        mu_inv2 = self.mu * inv2
        # a kernel's log density at its centre: every exponent is at most its kernel's, so
        # shifting them all by the largest keeps exp from overflowing, with no max per point
        # (see ``log_pdf``)
        peak = self.log_weights - (log_sigma + log_z).sum(axis=0) - d * _LOG_SQRT_2PI
        finite = peak[np.isfinite(peak)]
        self.shift = float(finite.max()) if finite.size else 0.0
        const = peak - 0.5 * (self.mu * mu_inv2).sum(axis=0)
        # (k, 2d + 1), as the transpose of a C array: BLAS multiplies it by (2d + 1, m)
        # several times faster than (m, 2d + 1) by its transpose, for the few columns a block has
        coef_t = np.empty((2 * d + 1, k))
        coef_t[:d], coef_t[d : 2 * d] = -0.5 * inv2, mu_inv2
        coef_t[2 * d] = finite_log(const - self.shift)
        self.coef = coef_t.T
        self.cat_obs = [obs[:, i].astype(np.int64) for i in self.cat]

    def kernel_widths(self) -> np.ndarray:
        """Per numeric axis, the median bandwidth of the observations' kernels (the prior's
        if there are none): the scale at which this estimator tells points apart."""
        if self.n == 0:
            return self.sigma[:, -1].copy()
        return np.median(self.sigma[:, : self.n], axis=1)

    # ---- drawing candidates -------------------------------------------------------
    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """(size, d) internal values drawn from the mixture, on each axis's grid."""
        out = np.empty((size, len(self.axes)))
        ks = rng.choice(len(self.weights), size=size, p=self.weights)
        if self.num:
            mu, sig = self.mu[:, ks], self.sigma[:, ks]
            lo, hi = special.ndtr(-mu / sig), special.ndtr((1.0 - mu) / sig)
            u = rng.random(mu.shape)
            t = mu + sig * special.ndtri(lo + u * (hi - lo))
            for j, i in enumerate(self.num):
                out[:, i] = self.axes[i].from_unit(t[j])
        for j, i in enumerate(self.cat):
            c = self.axes[i].n_choices
            keep = rng.random(size)
            uniform = rng.integers(0, c, size=size)
            observed = ks < self.n
            p_obs = 1.0 / (1.0 + self.prior_weight * c / (self.n + 1))
            hit = observed & (keep < p_obs)
            chosen = uniform.copy()
            chosen[hit] = self.cat_obs[j][ks[hit]]
            out[:, i] = chosen
        return out

    # ---- scoring candidates -----------------------------------------------------------
    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """log density of the mixture at each row of ``x`` (internal values), up to a constant
        per axis that any two mixtures over the same axes share."""
        m = len(x)
        if self.num:
            t = np.stack([self._position(self.axes[i], x[:, i]) for i in self.num])  # (d, m)
            total = (self.coef @ np.concatenate([t * t, t, np.ones((1, m))])).T  # (m, k) view
            for j, i in enumerate(self.num):
                if self.axes[i].kind == DISC:
                    self._discrete_mass(total, j, i, x[:, i], t[j])
        else:
            total = np.broadcast_to(self.log_weights - self.shift, (m, len(self.weights))).copy()
        for j, i in enumerate(self.cat):
            self._categorical(total, j, i, x[:, i])
        return log_sum_exp(total, self.shift)

    @staticmethod
    def _position(axis: Axis, xi: np.ndarray) -> np.ndarray:
        """Where a value sits on its axis: a discrete value at the middle of its cell."""
        if axis.kind != DISC:
            return axis.to_unit(xi)
        left, right = axis.cell(xi)
        return 0.5 * (left + right)

    def _discrete_mass(self, total: np.ndarray, j: int, i: int, xi: np.ndarray, ti: np.ndarray) -> None:
        """Turn the density at a discrete value's cell middle into the mass of its cell: add
        the cell's log width, and for narrow kernels swap the density for the exact mass."""
        axis = self.axes[i]
        left, right = axis.cell(xi)
        total += np.log(right - left)[:, None]
        narrow = np.flatnonzero(self.sigma[j] < _NARROW * float(np.max(right - left)))
        if narrow.size == 0:
            return
        mu, sig = self.mu[j, narrow], self.sigma[j, narrow]
        pairs, inv = np.unique(np.stack([mu, sig]), axis=1, return_inverse=True)
        vals, vinv = np.unique(xi, return_inverse=True)
        vl, vr = axis.cell(vals)
        pm, ps = pairs[0][None, :], pairs[1][None, :]
        exact = log_gauss_mass((vl[:, None] - pm) / ps, (vr[:, None] - pm) / ps)
        exact = exact[np.ix_(np.asarray(vinv).reshape(-1), np.asarray(inv).reshape(-1))]
        z = (ti[:, None] - mu) / sig
        dens = -0.5 * z * z - np.log(sig) - _LOG_SQRT_2PI + np.log(right - left)[:, None]
        total[:, narrow] += exact - dens

    def _categorical(self, total: np.ndarray, j: int, i: int, xi: np.ndarray) -> None:
        c = self.axes[i].n_choices
        total[:, self.n] -= math.log(c)
        if self.n:
            per = self.prior_weight / (self.n + 1)
            norm = math.log(per * c + 1.0)
            miss = math.log(per) - norm if per > 0 else -math.inf
            hit = xi.astype(np.int64)[:, None] == self.cat_obs[j][None, :]
            total[:, : self.n] += np.where(hit, math.log(per + 1.0) - norm, miss)
