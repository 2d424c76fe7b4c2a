"""The Gaussian-process model of GPSampler: kernel, hyperparameter fit, posterior, log EI.

Inputs live in [0, 1]^d (a categorical dim holds its choice's index); outputs are
standardised by the caller. The kernel is Matern 5/2 with one inverse squared
lengthscale per dim (ARD), a signal variance and a noise variance; on a categorical
dim the squared distance is 0 or 1 (Hamming), as in Optuna's GPSampler:

    k(x, x') = scale * m(r2),   r2 = sum_j ils_j * d_j(x, x')^2,
    m(r2) = (1 + s + s^2 / 3) * exp(-s),   s = sqrt(5 * r2).

``fit`` maximises the log marginal likelihood (Rasmussen & Williams, "Gaussian Processes
for Machine Learning", 2006, eq. 5.8, 5.9) plus Optuna's weak priors with L-BFGS-B and
analytic gradients, from one fixed start (so that the fit is a function of the data only).
``log_ei`` is the numerically stable log expected improvement of Ament et al.,
"Unexpected Improvements to Expected Improvement for Bayesian Optimization", NeurIPS 2023.

Everything is numpy/scipy; no function warns (a Cholesky that fails gets jitter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from tunefleet.samplers.base import LazyModule

linalg: Any = LazyModule("scipy.linalg")
optimize: Any = LazyModule("scipy.optimize")

MIN_NOISE = 1e-6  # the noise variance floor (and the noise of a deterministic objective)
_C1 = 0.5 * math.log(2 * math.pi)
_C2 = 0.5 * math.log(math.pi / 2)
_TINY_Z = -1.0 / math.sqrt(np.finfo(float).eps)
_VAR_FLOOR = 1e-20
# L-BFGS-B bounds of the raw hyperparameters: log ils, log scale, log(noise - MIN_NOISE)
_LOG_ILS = (math.log(1e-4), math.log(1e4))
_LOG_SCALE = (math.log(1e-3), math.log(1e3))
_LOG_NOISE = (math.log(1e-9), math.log(10.0))
_START_NOISE = 0.1


@dataclass(frozen=True)
class Params:
    """Kernel hyperparameters: inverse squared lengthscales, signal and noise variance."""

    ils: np.ndarray
    scale: float
    noise: float


def matern52(r2: np.ndarray) -> np.ndarray:
    s = np.sqrt(5.0 * r2)
    out = s / 3.0
    out += 1.0
    out *= s
    out += 1.0
    np.negative(s, out=s)
    np.exp(s, out=s)
    out *= s
    return out


def matern52_dr2(r2: np.ndarray) -> np.ndarray:
    """d m / d r2: finite at r2 = 0 (where the derivative in r is 0)."""
    s = np.sqrt(5.0 * r2)
    return (-5.0 / 6.0) * (1.0 + s) * np.exp(-s)


def sq_diffs(a: np.ndarray, b: np.ndarray, is_cat: np.ndarray) -> np.ndarray:
    """Per-dim squared distances, (len(a), len(b), d): Hamming on the categorical dims."""
    diff = a[:, None, :] - b[None, :, :]
    out = diff * diff
    if is_cat.any():
        out[:, :, is_cat] = (out[:, :, is_cat] > 0).astype(float)
    return out


def cholesky(k: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a symmetric PSD matrix, with growing jitter if it is not
    numerically positive definite."""
    jitter = 0.0
    base = max(float(np.mean(np.diag(k))), 1e-12)
    for _ in range(8):
        try:
            return linalg.cholesky(k + jitter * np.eye(len(k)), lower=True, check_finite=False)
        except linalg.LinAlgError:
            jitter = base * (1e-10 if jitter == 0.0 else 100 * jitter / base)
    raise linalg.LinAlgError("the kernel matrix is not positive definite even with jitter")


# ---- the fit ------------------------------------------------------------------------------------
def _loss(raw: np.ndarray, dist: np.ndarray, y: np.ndarray, deterministic: bool) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood minus the log prior, and its gradient in ``raw``."""
    n, d = len(y), dist.shape[2]
    ils, scale = np.exp(raw[:d]), math.exp(raw[d])
    extra = 0.0 if deterministic else math.exp(raw[d + 1])
    noise = MIN_NOISE + extra
    r2 = (dist.reshape(n * n, d) @ ils).reshape(n, n)
    m = matern52(r2)
    k = scale * m
    k[np.diag_indices(n)] += noise
    try:
        chol = linalg.cholesky(k, lower=True, check_finite=False)
    except linalg.LinAlgError:
        return 1e20, np.zeros_like(raw)
    alpha = linalg.cho_solve((chol, True), y, check_finite=False)
    inv, info = linalg.lapack.dpotri(chol, lower=1)
    if info != 0:
        return 1e20, np.zeros_like(raw)
    inv = np.tril(inv) + np.tril(inv, -1).T
    nll = 0.5 * float(y @ alpha) + float(np.log(np.diag(chol)).sum()) + n * _C1
    w = np.outer(alpha, alpha) - inv  # d mll / d theta = 0.5 tr(w dK/dtheta)
    g = np.empty_like(raw)
    g[:d] = 0.5 * ils * ((w * matern52_dr2(r2)).reshape(-1) @ dist.reshape(n * n, d)) * scale
    g[d] = 0.5 * scale * float((w * m).sum())
    # Optuna's priors: -(0.1 / ils + 0.1 ils), Gamma(2, 1) on scale, Gamma(1.1, 30) on noise
    prior = -float((0.1 / ils + 0.1 * ils).sum()) + math.log(scale) - scale
    dprior = np.empty_like(raw)
    dprior[:d] = 0.1 / ils - 0.1 * ils
    dprior[d] = 1.0 - scale
    if not deterministic:
        g[d + 1] = 0.5 * float(np.trace(w)) * extra
        prior += 0.1 * math.log(noise) - 30.0 * noise
        dprior[d + 1] = (0.1 / noise - 30.0) * extra
    value = nll - prior
    if not math.isfinite(value):
        return 1e20, np.zeros_like(raw)
    return value, -g - dprior


def fit(x: np.ndarray, y: np.ndarray, is_cat: np.ndarray, *, deterministic: bool) -> Params:
    """Hyperparameters maximising the log marginal likelihood plus the log prior on (x, y),
    from one fixed start (lengthscales 1, scale 1, noise 0.1). Falls back to the start if
    L-BFGS-B ends nowhere better."""
    d = x.shape[1]
    start = np.zeros(d + (1 if deterministic else 2))
    if not deterministic:
        start[d + 1] = math.log(_START_NOISE - MIN_NOISE)
    bounds = [_LOG_ILS] * d + [_LOG_SCALE] + ([] if deterministic else [_LOG_NOISE])
    dist = sq_diffs(x, x, is_cat)
    with np.errstate(all="ignore"):
        f0, _ = _loss(start, dist, y, deterministic)
        res = optimize.minimize(_loss, start, args=(dist, y, deterministic), jac=True,
                                method="L-BFGS-B", bounds=bounds,
                                options={"maxiter": 200, "gtol": 1e-3})
    raw = res.x if np.all(np.isfinite(res.x)) and res.fun <= f0 else start
    return Params(np.exp(raw[:d]), math.exp(raw[d]),
                  MIN_NOISE + (0.0 if deterministic else math.exp(raw[d + 1])))


# ---- the posterior ------------------------------------------------------------------------------
class GP:
    """The posterior of f given (x, y) and fixed hyperparameters; ``noise`` is per point so
    that pending points can be added as (almost) noise-free fantasies."""

    def __init__(self, x: np.ndarray, y: np.ndarray, is_cat: np.ndarray, params: Params,
                 noise: np.ndarray | None = None, chol: np.ndarray | None = None) -> None:
        self.x, self.y, self.is_cat, self.params = x, y, is_cat, params
        self.noise = np.full(len(y), params.noise) if noise is None else noise
        self._sq = np.sqrt(params.ils[~is_cat])
        self._cont = ~is_cat
        with np.errstate(all="ignore"):
            if chol is None:
                k = self.kernel(x, x)
                k[np.diag_indices(len(y))] += self.noise
                chol = cholesky(k)
            self.chol = chol
            self.alpha = linalg.cho_solve((chol, True), y, check_finite=False)

    def _r2(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ac, bc = a[:, self._cont] * self._sq, b[:, self._cont] * self._sq
        r2 = (ac * ac).sum(1)[:, None] + (bc * bc).sum(1)[None, :] - 2.0 * ac @ bc.T
        for j in np.flatnonzero(self.is_cat):
            r2 += self.params.ils[j] * (a[:, j][:, None] != b[:, j][None, :])
        return np.maximum(r2, 0.0)

    def kernel(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.params.scale * matern52(self._r2(a, b))

    def predict(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance of f (not of y) at the rows of ``xs``."""
        with np.errstate(all="ignore"):
            kx = self.kernel(xs, self.x)
            mean = kx @ self.alpha
            v = linalg.solve_triangular(self.chol, kx.T, lower=True, check_finite=False)
            var = self.params.scale - (v * v).sum(0)
        return mean, np.maximum(var, _VAR_FLOOR)

    def predict_grad(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mean and variance at the rows of ``x`` and their gradients in x, (b, d) each
        (0 on categorical dims)."""
        with np.errstate(all="ignore"):
            diff = x[:, None, :] - self.x[None, :, :]  # (b, n, d)
            sq = diff * diff
            sq[:, :, self.is_cat] = (sq[:, :, self.is_cat] > 0).astype(float)
            r2 = sq @ self.params.ils  # (b, n)
            k = self.params.scale * matern52(r2)
            # dk_bi / dx_bj = scale * m'(r2_bi) * 2 ils_j (x_bj - X_ij)
            dk = (self.params.scale * matern52_dr2(r2))[:, :, None] * (2.0 * self.params.ils * diff)
            dk[:, :, self.is_cat] = 0.0
            mean = k @ self.alpha
            kinv_k = linalg.cho_solve((self.chol, True), k.T, check_finite=False).T  # (b, n)
            var = self.params.scale - (k * kinv_k).sum(1)
            dmean = np.einsum("bnd,n->bd", dk, self.alpha)
            dvar = -2.0 * np.einsum("bnd,bn->bd", dk, kinv_k)
        low = var < _VAR_FLOOR
        dvar[low] = 0.0
        return mean, np.maximum(var, _VAR_FLOOR), dmean, dvar

    def with_fantasies(self, xp: np.ndarray, yp: np.ndarray) -> GP:
        """This posterior with (xp, yp) added as observations of f with MIN_NOISE noise (the
        kriging believer of Ginsbourger et al. when yp is the posterior mean), the
        Cholesky factor extended by a block rather than recomputed."""
        n, p = len(self.y), len(yp)
        with np.errstate(all="ignore"):
            knp = self.kernel(self.x, xp)
            kpp = self.kernel(xp, xp)
            kpp[np.diag_indices(p)] += MIN_NOISE
            l21t = linalg.solve_triangular(self.chol, knp, lower=True, check_finite=False)
            l22 = cholesky(kpp - l21t.T @ l21t)
        chol = np.zeros((n + p, n + p))
        chol[:n, :n] = self.chol
        chol[n:, :n] = l21t.T
        chol[n:, n:] = l22
        return GP(np.vstack([self.x, xp]), np.concatenate([self.y, yp]), self.is_cat, self.params,
                  np.concatenate([self.noise, np.full(p, MIN_NOISE)]), chol)


# ---- acquisition pieces -------------------------------------------------------------------------
def log_h(z: np.ndarray) -> np.ndarray:
    """log(phi(z) + z Phi(z)), accurate for any z (Ament et al. 2023, eq. 9)."""
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    with np.errstate(all="ignore"):
        top = z > -1.0
        zt = z[top]
        out[top] = np.log(zt * special.ndtr(zt) + np.exp(-0.5 * zt * zt - _C1))
        mid = (z <= -1.0) & (z > _TINY_Z)
        zm = z[mid]
        a = np.log(special.erfcx(-zm / math.sqrt(2)) * np.abs(zm)) + _C2
        out[mid] = -0.5 * zm * zm - _C1 + _log1mexp(a)
        low = z <= _TINY_Z
        zl = z[low]
        out[low] = -0.5 * zl * zl - _C1 - 2.0 * np.log(np.abs(zl))
    return out


def _log1mexp(a: np.ndarray) -> np.ndarray:
    """log(1 - exp(a)) for a < 0 (Maechler 2012)."""
    return np.where(a > -math.log(2), np.log(-np.expm1(a)), np.log1p(-np.exp(a)))


def log_ei(mean: np.ndarray, var: np.ndarray, best: float) -> np.ndarray:
    """log E[max(best - f, 0)] for f ~ N(mean, var): expected improvement when minimising."""
    sigma = np.sqrt(var)
    return log_h((best - mean) / sigma) + np.log(sigma)


def log_ei_grad(mean: np.ndarray, var: np.ndarray, best: float) -> tuple[np.ndarray, ...]:
    """log EI and its derivatives in the mean and the variance."""
    sigma = np.sqrt(var)
    z = (best - mean) / sigma
    lh = log_h(z)
    with np.errstate(all="ignore"):
        ratio = np.exp(special.log_ndtr(z) - lh)  # d log h / dz = Phi(z) / h(z)
        d_sigma = ratio * (-z / sigma) + 1.0 / sigma
    return lh + np.log(sigma), -ratio / sigma, d_sigma / (2.0 * sigma)


def log_pof(mean: np.ndarray, var: np.ndarray, threshold: float) -> np.ndarray:
    """log P(f <= threshold) for f ~ N(mean, var)."""
    return special.log_ndtr((threshold - mean) / np.sqrt(var))


def log_pof_grad(mean: np.ndarray, var: np.ndarray, threshold: float) -> tuple[np.ndarray, ...]:
    """log P(f <= threshold) and its derivatives in the mean and the variance."""
    sigma = np.sqrt(var)
    t = (threshold - mean) / sigma
    lp = special.log_ndtr(t)
    with np.errstate(all="ignore"):
        ratio = np.exp(-0.5 * t * t - _C1 - lp)  # phi(t) / Phi(t)
    return lp, -ratio / sigma, ratio * (-t / sigma) / (2.0 * sigma)
