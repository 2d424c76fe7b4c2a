"""QMCSampler: trial i takes point i of a Sobol' or Halton sequence."""

from __future__ import annotations

from typing import Any

import numpy as np

from tunefleet.core.distributions import Distribution, ParamValue
from tunefleet.core.history import StudyView
from tunefleet.core.trial import TrialRecord, TrialState
from tunefleet.samplers.base import Sampler, random_value, uniform_in

QMC_TYPES = ("sobol", "halton")


def qmc_point(qmc_type: str, d: int, index: int, *, scramble: bool, seed: int) -> np.ndarray:
    """Point ``index`` (from 0) of the d-dimensional sequence, in [0, 1)^d."""
    from scipy.stats import qmc  # lazy: scipy.stats is slow to import

    engine_cls: Any = qmc.Sobol if qmc_type == "sobol" else qmc.Halton
    rng = np.random.default_rng(seed & 0xFFFFFFFFFFFFFFFF)
    try:
        engine = engine_cls(d, scramble=scramble, rng=rng)
    except TypeError:  # scipy < 1.15 names it seed
        engine = engine_cls(d, scramble=scramble, seed=rng)
    if index:
        engine.fast_forward(index)
    return np.asarray(engine.random(1)[0])


class QMCSampler(Sampler):
    """Quasi-Monte Carlo sampling (Bergstra & Bengio, "Random Search for Hyper-Parameter
    Optimization", JMLR 2012, section 5, on low-discrepancy sequences; Sobol', USSR Comput.
    Math. 1967; Halton, Numer. Math. 1960), through ``scipy.stats.qmc``.

    The relative space is the space of the lowest-numbered COMPLETE or PRUNED trial (or,
    before any finished, of the RUNNING trials), as in Optuna, with its params in name
    order; trial i takes point i of the sequence of that dimension, so points depend only
    on the trial number, and workers asking at once get distinct points. A param outside
    the relative space is sampled at random from ``uniform(seed, trial, name)``.

    ``scramble=False`` (Optuna's default) is the same sequence whatever the seed.
    """

    def __init__(self, *, qmc_type: str = "sobol", scramble: bool = False, seed: int | None = None) -> None:
        if qmc_type not in QMC_TYPES:
            raise ValueError(f"qmc_type must be one of {', '.join(QMC_TYPES)}, got {qmc_type!r}")
        self.qmc_type = qmc_type
        self.scramble = bool(scramble)
        self.seed = seed
        self._seed = 0 if seed is None else int(seed)

    def infer_relative_search_space(
        self, view: StudyView, trial: TrialRecord
    ) -> dict[str, Distribution]:
        states = view.states()
        done = np.flatnonzero((states == TrialState.COMPLETE) | (states == TrialState.PRUNED))
        if done.size:
            first = view.trials[int(view.numbers()[done].min())]
            return dict(sorted(first.distributions.items()))
        union: dict[str, Distribution] = {}
        for record in sorted(view.running.values(), key=lambda r: r.number):
            union.update(record.distributions)
        return dict(sorted(union.items()))

    def sample_relative(
        self, view: StudyView, trial: TrialRecord, space: dict[str, Distribution]
    ) -> dict[str, ParamValue]:
        if not space:
            return {}
        names = sorted(space)
        point = qmc_point(self.qmc_type, len(names), trial.number, scramble=self.scramble, seed=self._seed)
        return {name: uniform_in(space[name], float(u)) for name, u in zip(names, point, strict=True)}

    def sample_independent(
        self, view: StudyView, trial: TrialRecord, name: str, dist: Distribution
    ) -> ParamValue:
        return random_value(self._seed, trial.number, name, dist)
