"""A one-axis Parzen mixture kept in the order of its kernels, for TPE's bad trials.

With one param per block (``multivariate=False``, or a param outside the joint space),
g(x) at 10,000 trials is 10,000 Gaussian kernels on one axis, and almost all of them are
narrow: a kernel's width is the larger gap to a neighbour, clipped below at
``floor = 1 / min(100, n + 2)``, and at that n nearly every gap is below the floor. A
narrow kernel adds nothing within 1e-13 of the density at a point further than
``reach`` from it (the bound is in ``_reach``), so ``log_pdf`` sums, for each point, only
the narrow kernels in a window of the sorted positions around it, plus every wider
kernel and the prior. That visits about a fifth of the kernels at 10,000 uniform
trials, and never more than all of them.

The mixture is the one ``parzen.Parzen`` builds from the same observations (same widths,
weights and truncation), and ``log_pdf`` agrees with it to about 1e-12.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tunefleet.samplers.parzen import (
    _EDGE,
    _LOG_SQRT_2PI,
    _NARROW,
    CONT,
    DISC,
    LOG_PRIOR_MASS,
    Axis,
    Parzen,
    finite_log,
    floor_width,
    log_unit_mass,
)

_EPS = 1e-13  # what the kernels left out may add, relative to the prior's density
_PHI_HALF_OVER_Z = 0.9196  # the least density of the prior kernel on [0, 1]: phi(0.5) / its mass
_Z_LEAST = 0.34  # the least mass on [0, 1] of a kernel centred in [0, 1] no wider than 1


def sorted_bandwidths(mu: np.ndarray, consider_endpoints: bool) -> np.ndarray:
    """``parzen.bandwidths`` of positions that are already sorted, in their order."""
    n = len(mu)
    s = np.empty(n + 2)
    s[0], s[1:-1], s[-1] = 0.0, mu, 1.0
    gaps = np.diff(s)
    sig = np.maximum(gaps[:-1], gaps[1:])
    if not consider_endpoints and n >= 2:
        sig[0], sig[-1] = s[2] - s[1], s[-2] - s[-3]
    return np.clip(sig, 1.0 / min(100.0, n + 2.0), 1.0)


class SortedParzen:
    """The mixture over one numeric axis of kernels at sorted positions ``mu`` (on [0, 1])
    with ``weights``, plus the prior kernel; ``log_pdf`` as ``Parzen.log_pdf``.

    ``window_from``: the number of kernels from which ``log_pdf`` windows (below it, and
    where windows would cover most kernels anyway, it sums every kernel)."""

    def __init__(
        self,
        axis: Axis,
        mu: np.ndarray,
        weights: np.ndarray,
        *,
        prior_weight: float,
        consider_endpoints: bool,
        floor_log_z: np.ndarray | None = None,
        window_from: int = 2048,
    ) -> None:
        assert axis.kind in (CONT, DISC)
        n = len(mu)
        self.axis, self.n = axis, n
        self._fallback: Parzen | None = None
        floor = floor_width(n)
        if axis.kind == DISC and floor < _NARROW * _widest_cell(axis):
            # kernels narrow enough for a cell's exact mass to matter: Parzen's own way
            self._fallback = Parzen([axis], mu[:, None], weights, prior_weight=prior_weight,
                                    consider_endpoints=consider_endpoints)
            return
        if n == 0:
            prior_weight = 1.0  # as Parzen: with no observations the prior is the mixture
        total = float(np.sum(weights)) + prior_weight
        sig = sorted_bandwidths(mu, consider_endpoints) if n else np.empty(0)
        with np.errstate(divide="ignore"):  # weights of 0
            log_w = np.log(np.asarray(weights, dtype=float) / total)
        self.log_prior = (math.log(prior_weight / total) - LOG_PRIOR_MASS - _LOG_SQRT_2PI
                          if prior_weight > 0 else -math.inf)
        self.reach = self._reach(floor, total, prior_weight) if n >= window_from else math.inf
        # The narrow kernels are those at the floor, windowed in log_pdf: their exponent at t
        # is a t^2 + b_k t + c_k with one a; the wide ones keep rows (a_k, b_k, c_k).
        self.a = -0.5 / (floor * floor)
        narrow = sig <= floor * (1.0 + 1e-12) if self.reach < 0.5 else np.zeros(n, dtype=bool)
        n_narrow = int(np.count_nonzero(narrow))
        if 2 * n_narrow <= n:
            n_narrow, narrow = 0, np.zeros(n, dtype=bool)
        take: slice | np.ndarray = slice(None) if n_narrow == n else np.flatnonzero(narrow)
        mu_n = mu[take] if n_narrow else mu[:0]
        cached = floor_log_z[take] if floor_log_z is not None and n_narrow else None
        b_n, c_n = self._narrow_rows(mu_n, log_w[take] if n_narrow else log_w[:0], floor, cached)
        wide = np.flatnonzero(~narrow) if n_narrow else slice(None)
        a_w, b_w, c_w = self._rows(mu[wide], sig[wide], log_w[wide])
        tops = [c.max() for c in (c_n[np.isfinite(c_n)], c_w[np.isfinite(c_w)]) if c.size]
        self.shift = max([float(t) for t in tops] + [self.log_prior])
        self.narrow_mu = mu_n
        self.narrow = np.empty((len(mu_n), 2))
        self.narrow[:, 0], self.narrow[:, 1] = b_n, finite_log(c_n - self.shift)
        self.wide = np.stack([a_w, b_w, finite_log(c_w - self.shift)], axis=1)

    @staticmethod
    def _rows(mu: np.ndarray, sig: np.ndarray, log_w: np.ndarray) -> tuple[np.ndarray, ...]:
        """(a, b, c) of kernels of any widths: log w - log(sigma sqrt(2 pi) Z) - mu^2 / 2 sigma^2
        is c, with Z the kernel's mass on [0, 1]."""
        inv2 = 1.0 / (sig * sig)
        log_z = log_unit_mass(mu, sig)
        return -0.5 * inv2, mu * inv2, log_w - np.log(sig) - log_z - _LOG_SQRT_2PI - 0.5 * mu * mu * inv2

    @staticmethod
    def _narrow_rows(
        mu: np.ndarray, log_w: np.ndarray, floor: float, log_z: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(b, c) of sorted kernels all of width ``floor``; their masses on [0, 1] are
        ``log_z`` if given, else computed for the prefix and suffix near an edge."""
        inv2 = 1.0 / (floor * floor)
        c = log_w - (math.log(floor) + _LOG_SQRT_2PI) - (0.5 * inv2) * (mu * mu)
        if log_z is not None:
            c -= log_z
        else:
            lo = int(np.searchsorted(mu, _EDGE * floor, side="left"))
            hi = max(int(np.searchsorted(mu, 1.0 - _EDGE * floor, side="right")), lo)
            c[:lo] -= log_unit_mass(mu[:lo], floor)
            c[hi:] -= log_unit_mass(mu[hi:], floor)
        return mu * inv2, c

    @staticmethod
    def _reach(floor: float, total: float, prior_weight: float) -> float:
        """How far from a point the narrow kernels (width <= floor) may be left out.

        At t in [0, 1] the prior adds at least 0.9196 pw / W to the density (W: the weights'
        sum with the prior's). A kernel of width s <= floor at distance d > R = K floor adds
        w phi(d / s) / (s Z) <= w phi(K) / (floor 0.34), as phi(R / s) / s grows with s up
        to R; all of them together at most phi(K) / (0.34 floor) * (W - pw) / W. K is the
        smallest making that _EPS of the prior's share."""
        if prior_weight <= 0:
            return math.inf
        log_phi = math.log(_EPS * _Z_LEAST * _PHI_HALF_OVER_Z * floor * prior_weight / total)
        k = math.sqrt(max(-2.0 * (log_phi + _LOG_SQRT_2PI), 1.0))
        return k * floor

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """log density (log mass for a discrete axis) at each row of ``x`` (m, 1)."""
        if self._fallback is not None:
            return self._fallback.log_pdf(x)
        xi = x[:, 0]
        if self.axis.kind == DISC:
            left, right = self.axis.cell(xi)
            t, log_width = 0.5 * (left + right), np.log(right - left)
        else:
            t, log_width = self.axis.to_unit(xi), 0.0
        mass = self._sum(self.wide, t) + np.exp(self.log_prior - self.shift - 0.5 * (t - 0.5) ** 2)
        if len(self.narrow):
            mass += self._windowed(t)
        out = np.empty(len(t))
        ok = mass > 1e-280  # else every term is tiny (no prior): summed again after its max
        with np.errstate(divide="ignore"):
            out[ok] = np.log(mass[ok]) + self.shift
            if not ok.all():
                out[~ok] = self._exact(t[~ok]) + self.shift
        return out + log_width

    def _exact(self, t: np.ndarray) -> np.ndarray:
        e = np.concatenate([
            self.wide @ np.stack([t * t, t, np.ones_like(t)]),
            self.narrow @ np.stack([t, np.ones_like(t)]) + self.a * t * t,
            (self.log_prior - self.shift - 0.5 * (t - 0.5) ** 2)[None, :],
        ])  # (k + 1, m)
        top = e.max(axis=0)
        top[~np.isfinite(top)] = 0.0
        with np.errstate(divide="ignore"):
            return np.log(np.exp(e - top).sum(axis=0)) + top

    @staticmethod
    def _sum(coef: np.ndarray, t: np.ndarray) -> np.ndarray:
        if not len(coef):
            return np.zeros(len(t))
        e = coef @ np.stack([t * t, t, np.ones_like(t)])  # (k, m)
        np.maximum(e, -700.0, out=e)  # exp is slow below its underflow
        return np.ones(len(coef)) @ np.exp(e, out=e)

    def _windowed(self, t: np.ndarray) -> np.ndarray:
        """The narrow kernels' sum at each t, over the kernels within ``reach`` of it: one
        window of equal length per point, so that all are gathered and summed at once."""
        mu, k = self.narrow_mu, len(self.narrow_mu)
        lo = np.searchsorted(mu, t - self.reach, side="left")
        hi = np.searchsorted(mu, t + self.reach, side="right")
        length = int((hi - lo).max())
        if length == 0:
            return np.zeros(len(t))
        basis = np.stack([t, np.ones_like(t)], axis=1)  # (m, 2)
        if 2 * length > k:  # windows as long as half the kernels: sum them all
            e = basis @ self.narrow.T  # (m, k): b_k t + c_k
        else:
            start = np.minimum(lo, k - length)
            windows = sliding_window_view(self.narrow, length, axis=0)[start]  # (m, 2, length)
            e = np.matmul(basis[:, None, :], windows)[:, 0, :]  # (m, length)
        e += (self.a * t * t)[:, None]
        np.maximum(e, -700.0, out=e)
        return np.exp(e, out=e) @ np.ones(e.shape[1])


def _widest_cell(axis: Axis) -> float:
    """The widest cell of a discrete axis on [0, 1] (the lowest one, on a log scale)."""
    left, right = axis.cell(np.array([axis.low]))
    return float(right[0] - left[0])
