"""One-axis Parzen mixtures kept in the order of their kernels, for TPE's bad trials.

When TPE samples params one by one (``multivariate=False``, MOTPE, or a param outside
the joint space), g(x) at 10,000 trials is 10,000 Gaussian kernels per param, and almost
all of them are narrow: a kernel's width is the larger gap to a neighbour, clipped below
at ``floor = 1 / min(100, n + 2)``, and at that n nearly every gap is below the floor. A
narrow kernel adds nothing within 1e-13 of the density at a point further than ``reach``
from it (the bound is in ``_reach``), so ``log_pdf`` sums, for each point, only the narrow
kernels in a window of the sorted positions around it, plus every wider kernel and the
prior. That visits about a fifth of the kernels at 10,000 uniform trials, and never
more than all of them.

A ``SortedParzen`` holds several such mixtures, one per row (a param each), over the same
kernels' weights, so that the params of one ask are scored in a few numpy calls instead
of a few per param. Each row is the mixture ``parzen.Parzen`` builds from the same
observations (same widths, weights and truncation), and ``log_pdf`` agrees with it to
about 1e-12.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import special

from tunefleet.samplers.parzen import (
    _LOG_SQRT_2PI,
    _NARROW,
    CONT,
    DISC,
    LOG_PRIOR_MASS,
    Axis,
    finite_log,
    floor_width,
    log_unit_mass,
    put_rows,
    sorted_bandwidths,
)

_EPS = 1e-13  # what the kernels left out may add, relative to the prior's density
_PHI_HALF_OVER_Z = 0.9196  # the least density of the prior kernel on [0, 1]: phi(0.5) / its mass
_Z_LEAST = 0.34  # the least mass on [0, 1] of a kernel centred in [0, 1] no wider than 1
_PAD = 1.5  # the position of the padding kernels: further than any reach from [0, 1]
_NEVER = -1e300  # the log weight of a padding kernel
_CHUNK = 1 << 18  # exponents summed per numpy call in log_pdf: about 1 MB
_INNER = 4.0  # log_pdf_bounds' window, in floor widths either side of a point
_SINGLE = 1e-3  # more than float32 exp and a float32 sum of a window's terms can be off by
_FLOOR32 = -80.0  # log_pdf_bounds raises its terms to this exponent, above float32's underflow


def handles(axis: Axis, n: int) -> bool:
    """Whether a ``SortedParzen`` models ``axis`` with n kernels as ``Parzen`` does: any
    continuous axis; a discrete one when every kernel is at least 8 of its cells wide, so
    that a value's mass is the density at its cell's middle times the cell's width."""
    if axis.kind == CONT:
        return True
    if axis.kind != DISC:
        return False
    left, right = axis.cell(np.array([axis.low]))  # the widest cell (the lowest, on a log scale)
    return floor_width(n) >= _NARROW * float(right[0] - left[0])


class SortedParzen:
    """Rows of one-axis mixtures, plus the prior kernel in each: row d has kernels at the
    sorted positions ``mu[d]`` (on [0, 1] of ``axes[d]``) whose weights are
    ``weights[order[d]]``; every row holds the same kernels' weights, in its own order.
    ``floor_log_z`` (as ``mu``), if given, is each kernel's log mass on [0, 1] at the floor
    width. ``log_pdf`` as ``Parzen.log_pdf`` of each row's mixture.

    ``window_from``: the number of kernels from which ``log_pdf`` windows (below it, and in
    a row where windows would cover most kernels anyway, it sums every kernel)."""

    def __init__(
        self,
        axes: list[Axis],
        mu: np.ndarray,
        order: np.ndarray,
        weights: np.ndarray,
        *,
        prior_weight: float,
        consider_endpoints: bool,
        floor_log_z: np.ndarray | None = None,
        window_from: int = 2048,
    ) -> None:
        assert mu.shape == order.shape and mu.shape[0] == len(axes) > 0
        d, n = mu.shape
        assert all(handles(a, n) for a in axes)
        self.axes, self.n = axes, n
        if n == 0:
            prior_weight = 1.0  # as Parzen: with no observations the prior is the mixture
        weights = np.asarray(weights, dtype=float)
        self.order, self.weights, self.prior_weight = order, weights, prior_weight
        total = float(weights[order[0]].sum()) + prior_weight
        with np.errstate(divide="ignore"):  # weights of 0
            log_w = np.log(weights / total)[order]
        self.log_prior = (math.log(prior_weight / total) - LOG_PRIOR_MASS - _LOG_SQRT_2PI
                          if prior_weight > 0 else -math.inf)
        floor = floor_width(n)
        self.reach = self._reach(floor, total, prior_weight) if n >= window_from else math.inf
        self.mu, self._consider_endpoints = mu, consider_endpoints
        self._sigma: np.ndarray | None = None  # (``sigma``, made when first asked for)
        if self.reach < 0.5 and _all_at_floor(mu, floor * (1.0 + 1e-12), consider_endpoints):
            sig = at_floor = np.ones((d, n), dtype=bool)  # (sig unused: every kernel narrow)
        else:
            sig = self.sigma
            at_floor = sig <= floor * (1.0 + 1e-12)
        # The narrow kernels (at the floor) of a row where they are most are windowed in
        # log_pdf: their exponent at t is a t^2 + b_k t + c_k with one a. Every other
        # kernel keeps (a_k, b_k, c_k). Rows are padded to equal lengths with kernels at
        # _PAD of log weight _NEVER.
        self._flat_mu: np.ndarray | None = None  # narrow_mu, row d shifted by 2 d, flat
        self._single: tuple[np.ndarray, np.ndarray] | None = None  # (_narrow_sum32's mu, p)
        self._peak: np.ndarray | None = None  # (every kernel narrow) their log peaks
        self.floor = floor
        # at most the sum of the narrow kernels' peaks, less the shift (see log_pdf_bounds):
        # each is w / (floor sqrt(2 pi) Z) with Z >= _Z_LEAST, the weights less the prior's
        self._peaks_bound = (1.0 - prior_weight / total) / (floor * math.sqrt(2 * math.pi) * _Z_LEAST)
        self.a = -0.5 / (floor * floor)
        narrow = at_floor if self.reach < 0.5 else np.zeros((d, n), dtype=bool)
        narrow[2 * narrow.sum(axis=1) <= n] = False
        if narrow.all():  # the common case at thousands of trials: one width, fewer passes
            log_z = log_unit_mass(mu, floor) if floor_log_z is None else floor_log_z
            peak = log_w - (math.log(floor) + _LOG_SQRT_2PI) - log_z
            self._set_shift(peak)
            self._peak = peak
            c = peak + self.a * (mu * mu)
            self.narrow_mu = mu
            self.narrow = np.empty((d, n, 2))
            self.narrow[..., 0] = mu * (-2.0 * self.a)
            self.narrow[..., 1] = finite_log(c - self.shift)
            self.wide = np.zeros((d, 0, 3))
            return
        # peak: log w - log(sigma sqrt(2 pi) Z), Z the kernel's mass on [0, 1]; c less mu^2 / 2 sigma^2
        log_sig = np.full((d, n), math.log(floor))
        log_sig[~at_floor] = np.log(sig[~at_floor])
        if floor_log_z is None:
            log_z = log_unit_mass(mu, sig)
        else:
            log_z = np.where(at_floor, floor_log_z, 0.0)
            log_z[~at_floor] = log_unit_mass(mu[~at_floor], sig[~at_floor])
        inv2 = 1.0 / (sig * sig)
        peak = log_w - log_sig - log_z - _LOG_SQRT_2PI
        self._set_shift(peak)
        c = peak - 0.5 * (mu * mu) * inv2
        c = finite_log(c - self.shift)
        b = mu * inv2
        take, skip = _Packer(narrow), _Packer(~narrow)
        self.narrow_mu = take(mu, _PAD)
        self.narrow = np.stack([take(b, 0.0), take(c, _NEVER)], axis=-1)
        self.wide = np.stack([skip(-0.5 * inv2, 0.0), skip(b, 0.0), skip(c, _NEVER)], axis=-1)

    def _set_shift(self, peak: np.ndarray) -> None:
        """Per row, the largest log density of a kernel at its centre (or the prior's):
        every exponent less it is at most 0, so exp cannot overflow, with no max per point."""
        tops = peak.max(axis=1, initial=-np.inf)  # (-inf, a weight of 0, never the max)
        if np.isnan(tops).any() or (tops == np.inf).any():  # the max of the finite ones
            tops = np.where(np.isfinite(peak), peak, -np.inf).max(axis=1, initial=-np.inf)
        self.shift = np.maximum(tops, self.log_prior)[:, None]  # (d, 1)
        self.shift[~np.isfinite(self.shift)] = 0.0

    @property
    def sigma(self) -> np.ndarray:
        """Per row, the kernels' widths in their sorted order (``sorted_bandwidths``)."""
        if self._sigma is None:
            self._sigma = sorted_bandwidths(self.mu, self._consider_endpoints)
        return self._sigma

    def kernel_widths(self) -> np.ndarray:
        """Per row, the median width of the observations' kernels (the prior's, 1, if there
        are none), as ``Parzen.kernel_widths``."""
        return np.median(self.sigma, axis=1) if self.n else np.ones(len(self.axes))

    def sample(self, rngs: list[np.random.Generator], size: int) -> np.ndarray:
        """(size, rows) internal values, row d drawn with ``rngs[d]`` from its mixture exactly
        as ``Parzen.sample`` draws from the same mixture (the same numbers from the same
        stream): a kernel by its weight in the kernels' own order, then a point in it. Needs
        each row of ``order`` to be a permutation of the n weights."""
        rows = len(self.axes)
        assert len(self.weights) == self.n
        w = np.ones(1) if self.n == 0 else np.append(self.weights, self.prior_weight)
        probs = w / w.sum()  # as Parzen.weights, to the last bit
        # ``rng.choice(len(probs), size, p=probs)`` then ``rng.random(size)`` per row, as
        # Parzen.sample draws: Generator.choice with p takes ``random(size)`` from the
        # stream and finds it in its cdf (``p.cumsum()``, over its last value), so the cdf is
        # made once for every row and each row's stream gives its 2 size numbers at once
        cdf = probs.cumsum()
        cdf /= cdf[-1]
        drawn = np.array([rng.random(2 * size) for rng in rngs]).reshape(rows, 2 * size)
        ks, u = cdf.searchsorted(drawn[:, :size], side="right"), drawn[:, size:]
        mu, sig = np.full((rows, size), 0.5), np.ones((rows, size))
        if self.n:
            at = np.empty_like(self.order)  # a kernel's place in its row's sorted order
            put_rows(at, self.order, np.broadcast_to(np.arange(self.n), at.shape))  # (no sort)
            obs = ks < self.n
            r = np.nonzero(obs)[0]
            pos = at[r, ks[obs]]
            mu[obs], sig[obs] = self.mu[r, pos], self.sigma[r, pos]
        lo, hi = special.ndtr(-mu / sig), special.ndtr((1.0 - mu) / sig)
        t = mu + sig * special.ndtri(lo + u * (hi - lo))
        return np.stack([axis.from_unit(t[d]) for d, axis in enumerate(self.axes)], axis=1)

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
        """log density (log mass on a discrete axis) of row d's mixture at ``x[:, d]``:
        (m, rows) in, (m, rows) out."""
        t, log_width, mass = self._positions_and_wide(x)
        if self.narrow.shape[1]:
            mass += self._narrow_sum(t, self.reach)
        out = np.empty(t.shape)
        ok = mass > 1e-280  # else every term is tiny (no prior): summed again after its max
        with np.errstate(divide="ignore"):
            out[ok] = np.log(mass[ok])
            for d, j in zip(*np.nonzero(~ok), strict=True):
                out[d, j] = self._exact(d, float(t[d, j]))
        return (out + self.shift + log_width).T

    def log_pdf_bounds(self, x: np.ndarray, sigmas: float = _INNER) -> tuple[np.ndarray, np.ndarray] | None:
        """Bounds (lo, hi) on ``log_pdf`` at ``x``, from the narrow kernels within ``sigmas``
        floor widths of each point only: about half the window ``log_pdf`` sums. A narrow
        kernel further off is below its peak by exp(-sigmas^2 / 2) at least, so all of them
        add at most that times the sum of the narrow kernels' peaks, which is at most
        their weight over floor sqrt(2 pi) 0.34. The window is summed in single precision
        and widened by ``_SINGLE`` either way. None where ``log_pdf`` does not window, or
        windows hardly wider."""
        inner = sigmas * self.floor
        if not self.narrow.shape[1] or not self.reach > 1.5 * inner:
            return None
        t, log_width, mass = self._positions_and_wide(x)
        # the window's sum in single precision (exp is several times faster there), off by
        # less than _SINGLE of itself, its terms raised to e^_FLOOR32 at least (so that none
        # underflows): at most ``over`` more than they are
        near, length = self._narrow_sum32(t, inner)
        over = length * math.exp(_FLOOR32)
        rest = self._peaks_bound * np.exp(-self.shift) * math.exp(-0.5 * sigmas * sigmas)
        with np.errstate(divide="ignore"):
            low = np.maximum(near * (1.0 - _SINGLE) - over, 0.0)
            lo = np.log(mass + low) + self.shift + log_width
            hi = np.log(mass + near * (1.0 + _SINGLE) + rest) + self.shift + log_width
        return lo.T, hi.T

    def _positions_and_wide(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(positions on [0, 1], log cell widths (0 on continuous axes), the wide kernels'
        and the prior's sum less the shift), each (rows, m)."""
        t = np.empty(x.T.shape)
        log_width = np.zeros(t.shape)
        for d, axis in enumerate(self.axes):
            if axis.kind == DISC:
                left, right = axis.cell(x[:, d])
                t[d], log_width[d] = 0.5 * (left + right), np.log(right - left)
            else:
                t[d] = axis.to_unit(x[:, d])
        mass = self._wide_sum(t) + np.exp(self.log_prior - self.shift - 0.5 * (t - 0.5) ** 2)
        return t, log_width, mass

    def _wide_sum(self, t: np.ndarray) -> np.ndarray:
        if not self.wide.shape[1]:
            return np.zeros(t.shape)
        basis = np.stack([t * t, t, np.ones_like(t)], axis=1)  # (d, 3, m)
        e = np.matmul(self.wide, basis)  # (d, k, m)
        np.maximum(e, -700.0, out=e)  # exp is slow below its underflow
        return np.matmul(np.ones(e.shape[1]), np.exp(e, out=e))

    def _windows(self, t: np.ndarray, reach: float) -> tuple[np.ndarray, np.ndarray, int]:
        """Per t, the start of its window of the narrow kernels within ``reach`` of it, as an
        index into the rows' kernels laid end to end, and the windows' one length (the
        longest; all of them when that is more than half a row). The rows' positions are
        searched as one sorted array, row d shifted by 2 d."""
        rows, k = self.narrow_mu.shape
        offsets = 2.0 * np.arange(rows)[:, None]
        if self._flat_mu is None:  # (the bounds and the exact scores share it)
            self._flat_mu = (self.narrow_mu + offsets).ravel()
        flat = self._flat_mu
        base = k * np.arange(rows)[:, None]
        lo = np.searchsorted(flat, (t - reach + offsets).ravel(), side="left").reshape(t.shape) - base
        hi = np.searchsorted(flat, (t + reach + offsets).ravel(), side="right").reshape(t.shape) - base
        length = int((hi - lo).max())
        if 2 * length > k:  # windows as long as half the kernels: sum them all
            start, length = np.zeros(t.shape, dtype=np.int64), k
        else:
            start = np.minimum(lo, k - length)
        return start + base, base, length

    def _narrow_sum(self, t: np.ndarray, reach: float) -> np.ndarray:
        """The narrow kernels' sum at each t, over those within ``reach`` of it: one window
        of equal length per point (``_windows``), so that all are gathered and summed at
        once."""
        rows, k = self.narrow_mu.shape
        at, base, length = self._windows(t, reach)
        if length == 0:
            return np.zeros(t.shape)
        # (rows, m, length) at a time would leave the cache: a few rows at a time
        windows = sliding_window_view(self.narrow.reshape(rows * k, 2), length, axis=0)
        step = max(1, _CHUNK // (t.shape[1] * length))
        out = np.empty(t.shape)
        for r0 in range(0, rows, step):
            r1 = min(rows, r0 + step)
            tt = t[r0:r1]
            win = windows[at[r0:r1].ravel()]  # (rows' * m, 2, length)
            basis = np.stack([tt.ravel(), np.ones(tt.size)], axis=-1)[:, None, :]
            e = np.matmul(basis, win)[:, 0, :]  # (rows' * m, length): b_k t + c_k
            e += (self.a * tt * tt).reshape(-1, 1)
            if length == k:  # far kernels too: exp is slow below its underflow
                np.maximum(e, -700.0, out=e)
            out[r0:r1] = (np.exp(e, out=e) @ np.ones(length)).reshape(tt.shape)
        return out

    def _narrow_sum32(self, t: np.ndarray, reach: float) -> tuple[np.ndarray, int]:
        """``_narrow_sum`` in single precision, each term raised to e^_FLOOR32 at least, and
        the windows' length. A narrow kernel's exponent b t + c + a t^2 is a (t - mu)^2 + p
        (p = c - a mu^2, its log peak less the shift), formed in float32 from float32 copies
        of mu and p, so that the gathers move half the bytes and no term needs double
        precision. Each term is off by less than 2e-4 of itself: t and mu are within
        2^-24 of themselves on [0, 1] and the exponent's slope 2 |a| |t - mu| is at most
        2 sqrt(80 |a|) where a term is above e^-80, |a| = 1 / (2 floor^2) <= 5,000; p and
        the products round by 2^-24 of exponents of at most about 80 above the floor.
        With float32's exp and sum, that is inside _SINGLE."""
        rows, k = self.narrow_mu.shape
        at, _, length = self._windows(t, reach)
        if length == 0:
            return np.zeros(t.shape), 0
        if self._single is None:
            p = np.empty((rows, k), dtype=np.float32)
            if self._peak is not None:  # every kernel narrow: p is the log peak less the shift
                np.subtract(self._peak, self.shift, out=p, casting="same_kind")  # (rounded once)
            else:
                peak = self.narrow[..., 1] - self.a * (self.narrow_mu * self.narrow_mu)
                np.maximum(peak, -1e30, out=p, casting="same_kind")  # (-1e300: a weight of 0)
            self._single = (self.narrow_mu.astype(np.float32).ravel(), p.ravel())
        mu, peak = (sliding_window_view(v, length) for v in self._single)
        a, floor32 = np.float32(self.a), np.float32(_FLOOR32)
        step = max(1, _CHUNK // (t.shape[1] * length))
        out = np.empty(t.shape)
        for r0 in range(0, rows, step):
            r1 = min(rows, r0 + step)
            idx = at[r0:r1].ravel()
            e = mu[idx]  # (rows' * m, length), a copy
            e -= t[r0:r1].astype(np.float32).reshape(-1, 1)
            e *= e
            e *= a
            e += peak[idx]
            np.maximum(e, floor32, out=e)
            out[r0:r1] = (np.exp(e, out=e) @ np.ones(length, dtype=np.float32)).reshape(r1 - r0, -1)
        return out, length

    def _exact(self, d: int, t: float) -> float:
        """Row d's log density at t less its shift, from every term after their max."""
        e = np.concatenate([
            self.wide[d] @ np.array([t * t, t, 1.0]),
            self.narrow[d] @ np.array([t, 1.0]) + self.a * t * t,
            [self.log_prior - float(self.shift[d, 0]) - 0.5 * (t - 0.5) ** 2],
        ])
        top = float(e.max())
        if not math.isfinite(top):
            return -math.inf
        return math.log(float(np.exp(e - top).sum())) + top


def _all_at_floor(mu: np.ndarray, at_most: float, consider_endpoints: bool) -> bool:
    """Whether ``sorted_bandwidths(mu, consider_endpoints) <= at_most`` everywhere, with 2
    kernels a row or more, from the gaps alone (two passes instead of its five): a width is
    the larger gap to a neighbour, clipped below at the floor (at most ``at_most``), where
    the first and last kernels take the gap inside the row unless the endpoints count."""
    if mu.shape[1] < 2:
        return False
    gaps = mu[:, 1:] - mu[:, :-1]  # (the very differences sorted_bandwidths takes)
    if not bool(gaps.max() <= at_most):  # (NaN: not)
        return False
    if consider_endpoints:
        return bool(np.all(mu[:, 0] - 0.0 <= at_most) and np.all(1.0 - mu[:, -1] <= at_most))
    return True


class _Packer:
    """Per row, the entries where ``keep``, in order, padded to the longest row."""

    def __init__(self, keep: np.ndarray) -> None:
        counts = keep.sum(axis=1)
        self.width = int(counts.max(initial=0))
        self.all = bool(keep.all())
        if not self.all and self.width:
            self.rows, self.cols = np.nonzero(keep)
            self.slot = np.cumsum(keep, axis=1)[self.rows, self.cols] - 1

    def __call__(self, values: np.ndarray, pad: float) -> np.ndarray:
        """(rows, n) -> (rows, width)."""
        if self.all:
            return values
        out = np.full((values.shape[0], self.width), pad)
        if self.width:
            out[self.rows, self.slot] = values[self.rows, self.cols]
        return out
