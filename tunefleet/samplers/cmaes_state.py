"""The CMA-ES maths of CmaEsSampler: the search space in [0, 1]^d and the CMA state.

``Space`` maps a point of the unit cube to param values and back (log scale for log
params; int and stepped params have equal-width cells around each grid value, or,
with margin, grid points at ``k * step / (high - low)``). ``Cma`` is the state of one
CMA-ES run, with the update of Hansen's tutorial (arXiv:1604.00772) and the settings
and termination criteria of the ``cmaes`` package (CyberAgentAILab) that Optuna uses:
full or separable covariance (Ros & Hansen, PPSN 2008), the margin correction of
Hamano et al. (GECCO 2022) and learning-rate adaptation (Nomura, Akimoto & Ono, GECCO
2023). The state holds no random generator: ``sample`` is handed the trial's stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tunefleet.core.distributions import Distribution, FloatDistribution, IntDistribution, ParamValue

_EPS = 1e-8
_SIGMA_MAX = 1e32


@dataclass(frozen=True)
class Space:
    """The numeric params of a relative space, in name order, as axes of [0, 1]^d."""

    names: tuple[str, ...]
    dists: tuple[Distribution, ...]
    lo: tuple[float, ...]  # the (log) internal value at u = 0
    hi: tuple[float, ...]  # ... and at u = 1
    log: tuple[bool, ...]
    steps: np.ndarray  # with margin: the grid spacing in u of a discrete axis; 0 elsewhere

    @classmethod
    def of(cls, space: dict[str, Distribution], *, margin: bool) -> Space:
        names = tuple(sorted(space))
        dists = tuple(space[k] for k in names)
        lo, hi, log, steps = [], [], [], []
        for d in dists:
            assert isinstance(d, (FloatDistribution, IntDistribution)) and not d.single()
            step = None if d.log else d.step
            if d.log:
                half = 0.5 if isinstance(d, IntDistribution) else 0.0
                a, b = math.log(d.low - half), math.log(d.high + half)
            elif step is None or margin:
                a, b = d.low, d.high
            else:  # each grid value owns a cell of width ``step``
                a, b = d.low - step / 2, d.high + step / 2
            lo.append(float(a))
            hi.append(float(b))
            log.append(d.log)
            steps.append(step / (d.high - d.low) if margin and step is not None else 0.0)
        return cls(names, dists, tuple(lo), tuple(hi), tuple(log), np.array(steps))

    @property
    def dim(self) -> int:
        return len(self.names)

    def decode(self, u: np.ndarray) -> dict[str, ParamValue]:
        """The param values at ``u``: on their grid, inside their distributions."""
        out: dict[str, ParamValue] = {}
        for k, d, lo, hi, log, v in zip(self.names, self.dists, self.lo, self.hi, self.log, u.tolist(),
                                        strict=True):
            t = lo + min(max(v, 0.0), 1.0) * (hi - lo)
            out[k] = _value(d, math.exp(t) if log else t)
        return out

    def unit(self, values: dict[str, float]) -> np.ndarray:
        """Where the given values sit in [0, 1]^d (the centre for a missing or unusable one)."""
        u = np.full(self.dim, 0.5)
        for i, k in enumerate(self.names):
            v = values.get(k)
            if v is None or (self.log[i] and v <= 0):
                continue
            t = math.log(v) if self.log[i] else float(v)
            u[i] = min(max((t - self.lo[i]) / (self.hi[i] - self.lo[i]), 0.0), 1.0)
        return u


def _value(d: Distribution, t: float) -> ParamValue:
    if isinstance(d, FloatDistribution):
        if d.step is None:
            return float(min(max(t, d.low), d.high))
        n = round((d.high - d.low) / d.step)
        k = min(max(round((t - d.low) / d.step), 0), n)
        return float(min(d.low + k * d.step, d.high))
    assert isinstance(d, IntDistribution)
    if d.log:
        return min(max(int(round(t)), d.low), d.high)
    n = (d.high - d.low) // d.step
    k = min(max(int(round((t - d.low) / d.step)), 0), n)
    return d.low + k * d.step


def default_popsize(dim: int) -> int:
    return 4 + math.floor(3 * math.log(dim))


class Cma:
    """One CMA-ES run in [0, 1]^d: mean, step size, covariance (a vector when separable),
    evolution paths, the generation count and what the termination criteria need."""

    def __init__(self, mean: np.ndarray, sigma: float, popsize: int, *, separable: bool = False,
                 steps: np.ndarray | None = None, lr_adapt: bool = False) -> None:
        n = len(mean)
        lam = popsize
        mu = lam // 2
        self.dim, self.popsize, self.mu = n, lam, mu
        self.separable, self.lr_adapt = separable, lr_adapt
        if separable:  # Ros & Hansen 2008, with cmaes's constants
            wp = np.array([math.log(mu + 1) - math.log(i + 1) for i in range(mu)])
            self.weights = wp / wp.sum()
            mu_eff = 1 / float(np.sum(self.weights**2))
            c1 = 2 / ((n + 1.3) ** 2 + mu_eff)
            cmu_full = 2 / mu_eff / ((n + math.sqrt(2)) ** 2) + (1 - 1 / mu_eff) * min(
                1, (2 * mu_eff - 1) / ((n + 2) ** 2 + mu_eff))
            cmu = (n + 2) / 3 * cmu_full
            c_sigma = (mu_eff + 2) / (n + mu_eff + 3)
            cc = 4 / (n + 4)
        else:  # the tutorial's (48)-(56), negative weights included
            wp = np.array([math.log((lam + 1) / 2) - math.log(i + 1) for i in range(lam)])
            mu_eff = float(np.sum(wp[:mu]) ** 2 / np.sum(wp[:mu] ** 2))
            mu_eff_minus = float(np.sum(wp[mu:]) ** 2 / np.sum(wp[mu:] ** 2))
            c1 = 2 / ((n + 1.3) ** 2 + mu_eff)
            cmu = min(1 - c1 - 1e-8, 2 * (mu_eff - 2 + 1 / mu_eff) / ((n + 2) ** 2 + mu_eff))
            min_alpha = min(1 + c1 / cmu if cmu > 0 else math.inf,
                            1 + 2 * mu_eff_minus / (mu_eff + 2),
                            (1 - c1 - cmu) / (n * cmu) if cmu > 0 else math.inf)
            pos, neg = wp[wp > 0].sum(), np.abs(wp[wp < 0]).sum()
            self.weights = np.where(wp >= 0, wp / pos, min_alpha / neg * wp)
            c_sigma = (mu_eff + 2) / (n + mu_eff + 5)
            cc = (4 + mu_eff / n) / (n + 4 + 2 * mu_eff / n)
        self.mu_eff, self.c1, self.cmu, self.c_sigma, self.cc = mu_eff, c1, cmu, c_sigma, cc
        self.d_sigma = 1 + 2 * max(0.0, math.sqrt((mu_eff - 1) / (n + 1)) - 1) + c_sigma
        self.chi_n = math.sqrt(n) * (1.0 - 1.0 / (4.0 * n) + 1.0 / (21.0 * n**2))
        self.mean = np.array(mean, dtype=float)
        self.sigma = float(sigma)
        self.C = np.ones(n) if separable else np.eye(n)
        self.p_sigma, self.pc = np.zeros(n), np.zeros(n)
        self.g = 0
        self._bd: tuple[np.ndarray, np.ndarray] | None = None
        # termination criteria (cmaes's)
        self.tolx, self.tolxup, self.tolfun, self.tolcond = 1e-12 * sigma, 1e4, 1e-12, 1e14
        self.funhist_term = 10 + math.ceil(30 * n / lam)
        self.funhist = np.empty(2 * self.funhist_term)
        # learning-rate adaptation (Nomura et al. 2023)
        self.e_mean, self.e_sigma = np.zeros(n), np.zeros(n * n)
        self.v_mean = self.v_sigma = 0.0
        self.eta_mean = self.eta_sigma = 1.0
        # margin (Hamano et al. 2022): the discrete axes, their grid, and the scaling A
        steps = np.zeros(n) if steps is None else steps
        self.discrete = np.flatnonzero(steps > 0)
        self.continuous = np.flatnonzero(steps <= 0)
        self.z_step = steps[self.discrete]
        self.z_size = np.round(1.0 / self.z_step).astype(int) + 1  # grid values 0, s, ..., 1
        self.margin = 1.0 / (n * lam)
        self.A = np.ones(n)

    # ---- sampling ----------------------------------------------------------------------------
    def eigen(self) -> tuple[np.ndarray, np.ndarray]:
        """(B, D) with C = B diag(D^2) B^T; for a separable C, B is None-like (ones)."""
        if self._bd is None:
            if self.separable:
                self._bd = np.ones(1), np.sqrt(np.where(self.C < 0, _EPS, self.C))
            else:
                self.C = (self.C + self.C.T) / 2
                d2, b = np.linalg.eigh(self.C)
                d = np.sqrt(np.where(d2 < 0, _EPS, d2))
                self.C = (b * d**2) @ b.T
                self._bd = b, d
        return self._bd

    def sample(self, rng: np.random.Generator, tries: int) -> tuple[np.ndarray, np.ndarray]:
        """(x to tell, point to evaluate) from N(mean, sigma^2 C): up to ``tries`` draws until
        the continuous axes are inside [0, 1], else the last draw clipped; with margin, the
        discrete axes of the point to evaluate are encoded onto their grid."""
        b, d = self.eigen()
        cont = self.continuous
        x = self.mean
        for _ in range(max(tries, 1)):
            z = rng.standard_normal(self.dim)
            y = d * z if self.separable else b @ (d * z)
            x = self.mean + self.sigma * y
            if np.all((x[cont] >= 0.0) & (x[cont] <= 1.0)):
                break
        else:
            x = x.copy()
            x[cont] = np.clip(x[cont], 0.0, 1.0)
        u = x.copy()
        if self.discrete.size:
            i = self.discrete
            enc = (x[i] - self.mean[i]) * self.A[i] + self.mean[i]
            u[i] = self._grid_index(enc) * self.z_step
        return x, u

    def _grid_index(self, v: np.ndarray) -> np.ndarray:
        return np.clip(np.floor(v / self.z_step + 0.5), 0, self.z_size - 1)

    # ---- learning ----------------------------------------------------------------------------
    def tell(self, xs: np.ndarray, ys: np.ndarray) -> None:
        """Update from one generation: ``popsize`` rows of x and their losses (lower is better)."""
        assert len(xs) == self.popsize
        order = np.argsort(ys, kind="stable")
        xs, ys = xs[order], ys[order]
        self.g += 1
        at = 2 * (self.g % self.funhist_term)
        self.funhist[at], self.funhist[at + 1] = ys[0], ys[-1]
        b, d = self.eigen()
        self._bd = None
        old_mean, old_sigma = self.mean.copy(), self.sigma
        old_cov = self.sigma**2 * self.C
        y_k = (xs - self.mean) / self.sigma
        y_w = self.weights[: self.mu] @ y_k[: self.mu]
        self.mean = self.mean + self.sigma * y_w
        inv_sqrt = (1 / d) if self.separable else (b / d) @ b.T
        c_y = inv_sqrt * y_w if self.separable else inv_sqrt @ y_w
        self.p_sigma = (1 - self.c_sigma) * self.p_sigma + math.sqrt(
            self.c_sigma * (2 - self.c_sigma) * self.mu_eff) * c_y
        norm_ps = float(np.linalg.norm(self.p_sigma))
        self.sigma = min(self.sigma * math.exp(self.c_sigma / self.d_sigma * (norm_ps / self.chi_n - 1)),
                         _SIGMA_MAX)
        left = norm_ps / math.sqrt(1 - (1 - self.c_sigma) ** (2 * (self.g + 1)))
        h_sigma = 1.0 if left < (1.4 + 2 / (self.dim + 1)) * self.chi_n else 0.0
        self.pc = (1 - self.cc) * self.pc + h_sigma * math.sqrt(self.cc * (2 - self.cc) * self.mu_eff) * y_w
        delta_h = (1 - h_sigma) * self.cc * (2 - self.cc)
        if self.separable:
            w = self.weights
            rank_mu = w @ (y_k[: self.mu] ** 2)
            self.C = ((1 + self.c1 * delta_h - self.c1 - self.cmu * w.sum()) * self.C
                      + self.c1 * self.pc**2 + self.cmu * rank_mu)
        else:
            w = self.weights
            norms = np.sum((y_k @ inv_sqrt.T) ** 2, axis=1)
            w_io = w * np.where(w >= 0, 1.0, self.dim / (norms + _EPS))
            rank_mu = (y_k.T * w_io) @ y_k
            self.C = ((1 + self.c1 * delta_h - self.c1 - self.cmu * w.sum()) * self.C
                      + self.c1 * np.outer(self.pc, self.pc) + self.cmu * rank_mu)
            if self.lr_adapt:
                self._adapt_rates(old_mean, old_sigma, old_cov, inv_sqrt)
        if self.discrete.size:
            self._margin()

    def _adapt_rates(self, old_mean: np.ndarray, old_sigma: float, old_cov: np.ndarray,
                     old_inv_sqrt: np.ndarray) -> None:
        """Learning-rate adaptation (Nomura, Akimoto & Ono, GECCO 2023), as cmaes has it."""
        n = self.dim
        d_mean = self.mean - old_mean
        d_cov = self.sigma**2 * self.C - old_cov
        loc = old_inv_sqrt / old_sigma
        loc_mean = loc @ d_mean
        loc_cov = (loc @ d_cov @ loc).reshape(n * n) / math.sqrt(2)
        bm, bs, gamma, alpha = 0.1, 0.03, 0.1, 1.4
        self.e_mean = (1 - bm) * self.e_mean + bm * loc_mean
        self.e_sigma = (1 - bs) * self.e_sigma + bs * loc_cov
        self.v_mean = (1 - bm) * self.v_mean + bm * float(loc_mean @ loc_mean)
        self.v_sigma = (1 - bs) * self.v_sigma + bs * float(loc_cov @ loc_cov)
        sq_m, sq_s = float(self.e_mean @ self.e_mean), float(self.e_sigma @ self.e_sigma)
        snr_m = (sq_m - bm / (2 - bm) * self.v_mean) / max(self.v_mean - sq_m, 1e-300)
        snr_s = (sq_s - bs / (2 - bs) * self.v_sigma) / max(self.v_sigma - sq_s, 1e-300)
        before = self.eta_mean
        rel_m = float(np.clip(snr_m / alpha / self.eta_mean - 1, -1, 1))
        rel_s = float(np.clip(snr_s / alpha / self.eta_sigma - 1, -1, 1))
        self.eta_mean = min(self.eta_mean * math.exp(min(gamma * self.eta_mean, bm) * rel_m), 1.0)
        self.eta_sigma = min(self.eta_sigma * math.exp(min(gamma * self.eta_sigma, bs) * rel_s), 1.0)
        self.mean = old_mean + self.eta_mean * d_mean
        cov = old_cov + self.eta_sigma * d_cov
        eigs = np.linalg.eigvalsh((cov + cov.T) / 2)
        self.sigma = min(math.exp(float(np.sum(np.log(np.maximum(eigs, 1e-300)))) / 2 / n), _SIGMA_MAX)
        self.C = cov / self.sigma**2
        self.sigma *= before / self.eta_mean

    def _limits(self, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The cell boundaries around the grid value nearest to ``m`` (both the same at an end)."""
        pos = self._grid_index(m)
        low = np.clip(pos - 1, 0, self.z_size - 2)
        up = np.clip(pos, 0, self.z_size - 2)
        return (low + 0.5) * self.z_step, (up + 0.5) * self.z_step

    def _margin(self) -> None:
        """Keep each discrete axis's probability of leaving the grid value nearest to the mean at
        least ``margin`` (Hamano et al. 2022, as cmaes's CMAwM)."""
        from scipy.special import ndtr, ndtri  # lazy: scipy is slow to import

        i = self.discrete
        m = self.mean[i]
        lim_low, lim_up = self._limits(m)
        diag = np.sqrt(np.diag(self.C)[i])
        scale = self.sigma * self.A[i] * diag
        low_cdf = ndtr((lim_low - m) / scale)
        up_cdf = 1.0 - ndtr((lim_up - m) / scale)
        mid_cdf = 1.0 - (low_cdf + up_cdf)
        edge = np.maximum(low_cdf, up_cdf) > 0.5
        side = ~edge
        margin = self.margin
        if np.any(edge):
            fix = np.minimum(low_cdf, up_cdf) < margin
            sign = np.sign(m - lim_up)
            dist = self.sigma * self.A[i] * ndtri(1.0 - margin) * diag
            m = m + fix * edge * (lim_up + sign * dist - m)
        low_cdf = np.maximum(low_cdf, margin / 2)
        up_cdf = np.maximum(up_cdf, margin / 2)
        rest = 1.0 - low_cdf - up_cdf - mid_cdf
        denom = low_cdf + mid_cdf + up_cdf - 3.0 * margin / 2
        mod_low = np.clip(low_cdf + rest * (low_cdf - margin / 2) / denom, 1e-10, 0.5 - 1e-10)
        mod_up = np.clip(up_cdf + rest * (up_cdf - margin / 2) / denom, 1e-10, 0.5 - 1e-10)
        chi_low, chi_up = ndtri(1.0 - mod_low), ndtri(1.0 - mod_up)
        a = self.A[i] + side * ((lim_up - lim_low) / ((chi_low + chi_up) * self.sigma * diag) - self.A[i])
        m = m + side * ((lim_low * chi_up + lim_up * chi_low) / (chi_low + chi_up) - m)
        self.A[i] = a
        self.mean[i] = m

    def degenerate(self) -> bool:
        """The step size has all but underflowed, or the state is no longer finite."""
        return not (self.sigma > 1e-200 and np.isfinite(self.mean).all() and np.isfinite(self.C).all())

    def should_stop(self) -> bool:
        """cmaes's termination criteria: flat values, tiny steps, divergence, no effect, and a
        condition number above 1e14."""
        b, d = self.eigen()
        dc = self.C if self.separable else np.diag(self.C)
        if self.g > self.funhist_term and np.max(self.funhist) - np.min(self.funhist) < self.tolfun:
            return True
        if np.all(self.sigma * dc < self.tolx) and np.all(self.sigma * self.pc < self.tolx):
            return True
        if self.sigma * np.max(d) > self.tolxup:
            return True
        if np.any(self.mean == self.mean + 0.2 * self.sigma * np.sqrt(dc)):
            return True
        i = self.g % self.dim
        axis = np.ones(self.dim) if self.separable else b[:, i]
        if np.all(self.mean == self.mean + 0.1 * self.sigma * d[i] * axis):
            return True
        return bool(np.max(d) / np.min(d) > self.tolcond)
