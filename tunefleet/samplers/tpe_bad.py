"""g(x) of TPE: the kernels of the bad trials (and of the RUNNING ones, with the constant
liar), from the facts' sorted columns (``TrialFacts.sorted_block``), with no sort of the
finished trials per ask.

``BadTrials`` gives g at the candidates of a block sampled jointly (``log_g``: a
``Parzen`` of the block's kernels, or from 512 bad trials on a ``KeptMixture`` kept from
ask to ask when every param of the block is continuous), and the rows of the one-axis
``SortedParzen`` estimators of single params (``sorted_weights``, ``sorted_kernels``).
Weights are Optuna's by trial number over the finished and the running bad trials.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tunefleet.core.distributions import Distribution
from tunefleet.samplers.parzen import (
    CAT,
    CONT,
    Axis,
    Parzen,
    floor_width,
    log_unit_mass,
    merge_rows,
    take_rows,
)
from tunefleet.samplers.parzen_kept import KeptMixture
from tunefleet.samplers.tpe_history import TrialFacts

KEPT_FROM = 512  # bad trials from which a block of continuous params keeps g (KeptMixture)
_KEPT_BLOCKS = 8  # the blocks whose g is kept


class BadTrials:
    """g's kernels for one sampler's options: ``weights(n)`` of n trials in trial-number
    order, the prior's weight, whether the endpoints count as neighbours."""

    def __init__(self, weights: Callable[[int], np.ndarray], prior_weight: float,
                 consider_endpoints: bool) -> None:
        self.weights = weights
        self.prior_weight = prior_weight
        self.consider_endpoints = consider_endpoints
        self._kept_facts: TrialFacts | None = None  # the facts the kept mixtures are of
        self._kept: dict[tuple[tuple[str, Distribution], ...], KeptMixture] = {}

    def log_g(self, facts: TrialFacts, block: dict[str, Distribution], axes: list[Axis],
              cols: list[np.ndarray], bad: np.ndarray, run_obs: np.ndarray,
              run_numbers: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """log g at ``candidates`` (internal values, (m, params)) of a block sampled jointly."""
        if all(a.kind == CONT for a in axes) and len(bad) >= KEPT_FROM:
            return self._kept_log_g(facts, block, axes, bad, run_obs, run_numbers, candidates)
        obs, weights, orders, log_z = self.rows(facts, block, axes, cols, bad, run_obs, run_numbers)
        above = Parzen(axes, obs, weights, orders=orders, floor_log_z=log_z,
                       prior_weight=self.prior_weight, consider_endpoints=self.consider_endpoints)
        return above.log_pdf(candidates)

    def _kept_log_g(self, facts: TrialFacts, block: dict[str, Distribution], axes: list[Axis],
                    bad: np.ndarray, run_obs: np.ndarray, run_numbers: np.ndarray,
                    candidates: np.ndarray) -> np.ndarray:
        """log g at the candidates of a block of continuous params from its ``KeptMixture``
        (the kernels of ``rows`` with their weights, kept from ask to ask)."""
        params = tuple(block.items())
        if self._kept_facts is not facts:
            self._kept_facts, self._kept = facts, {}
        kept = self._kept.pop(params, None) or KeptMixture(len(params), self.consider_endpoints)
        self._kept[params] = kept  # (re)inserted last: the newest
        while len(self._kept) > _KEPT_BLOCKS:
            del self._kept[next(iter(self._kept))]
        columns = facts.sorted_block(params)
        members = bad[columns.complete[bad]]
        weights = self.kernel_weights(facts, members, run_numbers)
        kept.fit(columns.units, columns.order, members, weights, run_obs, self.prior_weight,
                 floor_width(len(members) + len(run_obs)))
        return kept.log_pdf(np.stack([a.to_unit(candidates[:, i]) for i, a in enumerate(axes)],
                                     axis=1))

    def rows(
        self, facts: TrialFacts, block: dict[str, Distribution], axes: list[Axis],
        cols: list[np.ndarray], bad: np.ndarray, run_obs: np.ndarray, run_numbers: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """g's rows (finished bad trials in trial-number order, then the running ones), their
        weights, and per numeric axis the order that sorts them and the rows' kernels' masses
        at the floor width, from the facts' sorted columns (``TrialFacts.sorted_block``): no
        sort of the finished trials per ask."""
        n_run = len(run_obs)
        num = [i for i, a in enumerate(axes) if a.kind != CAT]
        items = list(block.items())
        sorted_block = facts.sorted_block(tuple(items[i] for i in num)) if num else None
        raw = np.empty((len(bad), len(axes)))
        if sorted_block is not None:
            raw[:, num] = sorted_block.units[bad]
        for i, a in enumerate(axes):
            if a.kind == CAT:
                raw[:, i] = cols[i][bad]
        used = ~np.isnan(raw).any(axis=1)
        bad_obs, bad_kept = raw[used], bad[used]
        n_fin = len(bad_obs)
        floor = floor_width(n_fin + n_run)
        orders = np.zeros((len(num), n_fin), dtype=np.int64)
        log_z = np.empty((len(num), n_fin + n_run))
        if sorted_block is not None:
            row_of = np.full(facts.n, -1, dtype=np.int64)
            row_of[bad_kept] = np.arange(n_fin)
            rows = row_of[sorted_block.order]
            orders = rows[rows >= 0].reshape(len(num), n_fin)  # each row holds every bad row once
            log_z[:, :n_fin] = sorted_block.log_mass(floor)[bad_kept].T
            run_pos = run_obs[:, num].T
            log_z[:, n_fin:] = log_unit_mass(run_pos, floor)
            if n_run:
                by_pos = np.argsort(run_pos, axis=1, kind="stable")
                _, orders = merge_rows(take_rows(np.ascontiguousarray(bad_obs[:, num].T), orders),
                                       take_rows(run_pos, by_pos), (orders, n_fin + by_pos))
        bad_obs = np.concatenate([bad_obs, run_obs])
        return bad_obs, self.kernel_weights(facts, bad_kept, run_numbers), orders, log_z

    def kernel_weights(self, facts: TrialFacts, kept: np.ndarray, run_numbers: np.ndarray) -> np.ndarray:
        """The weights of g's kernels: the finished trials ``kept`` (in trial-number order),
        then the running ones, Optuna's weights by trial number over all of them."""
        numbers = facts.view.numbers()[kept]
        run_sorted = np.sort(run_numbers)
        ranks = np.concatenate([
            np.arange(len(kept)) + np.searchsorted(run_sorted, numbers),
            np.searchsorted(numbers, run_numbers) + np.searchsorted(run_sorted, run_numbers),
        ])
        return self.weights(len(kept) + len(run_numbers))[ranks]

    def sorted_weights(
        self, facts: TrialFacts, kept: np.ndarray, run_numbers: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """g's kernel weights as ``rows`` gives them, for the finished trials ``kept``
        (in trial-number order) and the running ones: (weights by finished index, 0 for
        trials outside g, then the running trials'; which finished trials are in g)."""
        n_fin, n_run = len(kept), len(run_numbers)
        w = self.weights(n_fin + n_run)
        weights = np.zeros(facts.n + n_run)
        if n_run:
            numbers, run_sorted = facts.view.numbers()[kept], np.sort(run_numbers)
            weights[kept] = w[np.arange(n_fin) + np.searchsorted(run_sorted, numbers)]
            weights[facts.n:] = w[np.searchsorted(numbers, run_numbers)
                                  + np.searchsorted(run_sorted, run_numbers)]
        else:
            weights[kept] = w
        in_g = np.zeros(facts.n, dtype=bool)
        in_g[kept] = True
        return weights, in_g

    @staticmethod
    def sorted_kernels(
        facts: TrialFacts, params: tuple[tuple[str, Distribution], ...], in_g: np.ndarray,
        run_pos: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """g's kernels on the axes of single numeric params, a row each, sorted by position:
        (positions, their indices into ``sorted_weights``' weights, their masses at the floor
        width), each (params, kernels); row d holds the kernels of ``rows`` for
        ``params[d]`` in the order ``rows`` gives them. ``run_pos``: (params, running)."""
        d, n_run = run_pos.shape
        n_g = int(np.count_nonzero(in_g))
        floor = floor_width(n_g + n_run)
        block = facts.sorted_block(params)
        order = block.order[in_g[block.order]].reshape(d, n_g)  # each row holds g's trials once
        flat = order * d + np.arange(d)[:, None]  # (trial, param) in the (n, params) matrices
        mu, log_z = np.take(block.units, flat), np.take(block.log_mass(floor), flat)
        if n_run:
            by_pos = np.argsort(run_pos, axis=1, kind="stable")
            pos = take_rows(run_pos, by_pos)
            mu, order, log_z = merge_rows(mu, pos, (order, facts.n + by_pos),
                                          (log_z, log_unit_mass(pos, floor)))
        return mu, order, log_z
