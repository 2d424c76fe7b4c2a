"""g(x) of TPE's joint path over continuous axes, its kernels kept from ask to ask.

At thousands of trials, g is a mixture of one product kernel per bad trial, and from one
ask to the next few of them change: the new trial's, and on each axis those of the
trials next to a trial that joined or left the bad ones, whose neighbour gap (so whose
width) moved. ``KeptMixture`` keeps every finished trial's kernel coefficients, indexed by
finished index, works out each ask's widths on all axes at once, and recomputes the
coefficients of the kernels whose widths changed only; the weights (Optuna's ramp, which
moves every ask) enter through one column. Trials outside g keep their rows with a log
weight of -1e300. It is ``parzen.Parzen``'s mixture over the same kernels (widths, masses,
weights, prior), so ``log_pdf`` agrees with ``Parzen.log_pdf`` to rounding.
"""

from __future__ import annotations

import math

import numpy as np

from tunefleet.samplers.parzen import (
    _LOG_SQRT_2PI,
    finite_log,
    log_sum_exp,
    log_unit_mass,
    merge_rows,
    sorted_bandwidths,
)

_NEVER = -1e300  # the log weight of a finished trial outside g


class KeptMixture:
    """The mixture over ``d`` continuous [0, 1] axes: finished trials' kernels, refitted by
    ``fit`` each ask, then the RUNNING trials' and the prior."""

    def __init__(self, d: int, consider_endpoints: bool) -> None:
        self.d = d
        self.consider_endpoints = consider_endpoints
        self._n = 0
        # per finished index: the widths its row was made with (NaN: to make), its row of
        # coefficients (-0.5 / sigma^2 and mu / sigma^2 per axis, then its constant), its
        # base -sum(log sigma + log Z + mu^2 / 2 sigma^2) - d log sqrt(2 pi) and its peak
        # (the same without the mu^2 term: the log density at its centre)
        self._sig = np.zeros((0, d))
        self._coef = np.zeros((0, 2 * d + 1))
        self._base = np.zeros(0)
        self._peak = np.zeros(0)
        self._members = np.zeros(0, dtype=bool)  # in g at the last fit
        self._floor = math.nan
        self._k = 0  # kernels: the finished trials', then the RUNNING trials' and the prior's
        self.shift = 0.0

    def fit(self, units: np.ndarray, order: np.ndarray, members: np.ndarray, weights: np.ndarray,
            run_pos: np.ndarray, prior_weight: float, floor: float) -> None:
        """``units`` (n, d): the finished trials' positions; ``order`` (d, n): each axis's
        finished indices sorted by position (``SortedBlock.order``); ``members``: g's
        finished trials in trial-number order; ``weights``: their kernels' weights, then
        the running ones' (``run_pos``, (running, d))."""
        d, n, n_fin, n_run = self.d, len(units), len(members), len(run_pos)
        if n_fin + n_run == 0:
            prior_weight = 1.0  # as Parzen: with no observations the prior is the mixture
        # room for the finished trials, then the running ones' and the prior's rows, where
        # the next trials to finish will have theirs made anew (their widths are NaN)
        self._grow(n + n_run + 1)
        self._n = n
        if floor != self._floor:  # (it moves while n < 98 only): every row anew
            self._floor = floor
            self._sig[:] = np.nan
        in_g = np.zeros(n, dtype=bool)
        in_g[members] = True
        srt = order[in_g[order]].reshape(d, n_fin)  # each axis holds every member once
        axes = np.arange(d)[:, None]
        pos = np.take(units, srt * d + axes)
        if n_run:
            by_pos = np.argsort(run_pos.T, axis=1, kind="stable")
            pos, srt = merge_rows(pos, np.take(run_pos, by_pos * d + axes), (srt, n + by_pos))
        sig = np.empty((n + n_run, d))
        sig.ravel()[(srt * d + axes).ravel()] = sorted_bandwidths(pos, self.consider_endpoints).ravel()
        # the finished members whose widths moved, or which were out of g
        changed = members[(sig[members] != self._sig[members]).any(axis=1)]
        if changed.size:
            self._sig[changed] = sig[changed]
            rows, self._base[changed], self._peak[changed] = self._kernels(units[changed], sig[changed])
            self._coef[changed, : 2 * d] = rows
        self._sig[: n][self._members[:n] & ~in_g] = np.nan  # (made again if they come back)
        self._members[:n] = in_g
        # weights normalised over g's kernels and the prior, as Parzen's
        total = float(weights.sum()) + prior_weight
        with np.errstate(divide="ignore"):
            log_w = np.log(np.asarray(weights, dtype=float) / total)
            log_prior = math.log(prior_weight / total) if prior_weight > 0 else -math.inf
        mu_x = np.concatenate([run_pos, np.full((1, d), 0.5)])
        sig_x = np.concatenate([sig[n:], np.ones((1, d))])
        rows_x, base_x, peak_x = self._kernels(mu_x, sig_x)
        log_w_x = np.append(log_w[n_fin:], log_prior)
        peaks = np.concatenate([log_w[:n_fin] + self._peak[members], log_w_x + peak_x])
        finite = peaks[np.isfinite(peaks)]
        self.shift = float(finite.max()) if finite.size else 0.0
        const = self._coef[:n, 2 * d]
        const[:] = _NEVER
        const[members] = finite_log(log_w[:n_fin] + self._base[members] - self.shift)
        self._coef[n : n + n_run + 1, : 2 * d] = rows_x
        self._coef[n : n + n_run + 1, 2 * d] = finite_log(log_w_x + base_x - self.shift)
        self._k = n + n_run + 1

    def log_pdf(self, t: np.ndarray) -> np.ndarray:
        """log density at each row of ``t`` (m, d), positions on [0, 1]."""
        basis = np.concatenate([t * t, t, np.ones((len(t), 1))], axis=1)  # (m, 2d + 1)
        return log_sum_exp(basis @ self._coef[: self._k].T, self.shift)

    def _kernels(self, mu: np.ndarray, sig: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per kernel (rows of ``mu`` and ``sig``, (k, d)): its coefficients but the constant,
        its base and its peak (see ``__init__``)."""
        inv2 = 1.0 / (sig * sig)
        peak = -(np.log(sig) + log_unit_mass(mu, sig)).sum(axis=1) - self.d * _LOG_SQRT_2PI
        base = peak - 0.5 * (mu * mu * inv2).sum(axis=1)
        return np.concatenate([-0.5 * inv2, mu * inv2], axis=1), base, peak

    def _grow(self, n: int) -> None:
        """Room for n rows; rows new to it are still to be made."""
        have = len(self._sig)
        if n > have:
            cap = max(n, 2 * have)
            for name, fill in (("_sig", np.nan), ("_coef", 0.0), ("_base", 0.0), ("_peak", 0.0),
                               ("_members", False)):
                old = getattr(self, name)
                buf = np.full((cap,) + old.shape[1:], fill, dtype=old.dtype)
                buf[:have] = old
                setattr(self, name, buf)
