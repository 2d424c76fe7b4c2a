"""GridSampler: every combination of the given values, once each, in a fixed order."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tunefleet.core.distributions import CHOICE_TYPES, Distribution, ParamValue
from tunefleet.core.history import StudyView
from tunefleet.core.trial import TrialRecord
from tunefleet.errors import InvalidValue
from tunefleet.samplers.base import Sampler


class GridSampler(Sampler):
    """Grid search (as in Bergstra & Bengio, JMLR 2012, who compare it with random search),
    with Optuna's GridSampler options.

    ``search_space`` maps each param name to the list of its values (a dict of lists, so a
    spec file can give it). The grid is the product of the lists in name order, the last
    name varying fastest; ``seed`` shuffles that order (None keeps it).

    Trial n takes the grid point at position n minus the number of retries among trials
    0..n-1: a retry runs its failed trial's params again and spends no point, so the first
    ``n_points`` trials that are not retries visit every point exactly once. Past that the
    grid is spent (``exhausted``): the study starts no new trial and answers asks with
    ``done`` ("search space exhausted"), whatever its ``n_trials``, as Optuna's GridSampler
    stops its study. Retries of failed or lost trials still run.
    """

    def __init__(self, *, search_space: Mapping[str, Sequence[Any]], seed: int | None = None) -> None:
        if not isinstance(search_space, Mapping) or not search_space:
            raise ValueError("search_space must be a non-empty table of param name -> list of values")
        grid: dict[str, list[ParamValue]] = {}
        for name, values in search_space.items():
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
                raise ValueError(f"search_space[{name!r}] must be a non-empty list of values, got {values!r}")
            for v in values:
                if not isinstance(v, CHOICE_TYPES) or (isinstance(v, float) and math.isnan(v)):
                    raise ValueError(
                        f"search_space[{name!r}] holds {v!r}; values must be str, int, float, bool or None"
                    )
            grid[str(name)] = list(values)
        self.search_space = grid
        self.seed = seed
        self._names = sorted(grid)
        self._sizes = [len(grid[k]) for k in self._names]
        self.n_points = math.prod(self._sizes)
        self._perm: np.ndarray | None = None
        self._view: StudyView | None = None
        self._retries: list[int] = [0]  # _retries[i]: retries among trials 0..i-1

    # ---- the grid ----------------------------------------------------------------------
    def point(self, index: int) -> dict[str, ParamValue]:
        """The grid point at ``index`` of the unshuffled order."""
        out: dict[str, ParamValue] = {}
        for name, size in zip(reversed(self._names), reversed(self._sizes), strict=True):
            index, i = divmod(index, size)
            out[name] = self.search_space[name][i]
        return dict(sorted(out.items()))

    def grid_index(self, view: StudyView, trial: TrialRecord) -> int:
        """The grid index of ``trial``: fixed by the trials before it, so its ask and its
        later suggests agree. A retry takes the point of the trial it retries."""
        while trial.retry_of is not None:
            trial = view.trials[trial.retry_of]
        position = trial.number - self._retries_before(view, trial.number)
        position %= self.n_points
        if self.seed is None:
            return position
        if self._perm is None:
            self._perm = np.random.default_rng([int(self.seed) & 0xFFFFFFFF, 0x67726964]).permutation(
                self.n_points
            )
        return int(self._perm[position])

    def exhausted(self, view: StudyView) -> bool:
        """Every grid point has been handed to a trial that is not a retry."""
        return len(view.trials) - self._retries_before(view, len(view.trials)) >= self.n_points

    def _retries_before(self, view: StudyView, number: int) -> int:
        if self._view is not view:
            self._view, self._retries = view, [0]
        count = self._retries
        for record in view.trials[len(count) - 1 : number]:
            count.append(count[-1] + (record.retry_of is not None))
        return count[min(number, len(count) - 1)]

    # ---- the Sampler interface -------------------------------------------------------------
    def infer_relative_search_space(
        self, view: StudyView, trial: TrialRecord
    ) -> dict[str, Distribution]:
        """The grid's params that every complete trial used, with the distributions they used,
        so that they are handed out with the trial."""
        return {k: d for k, d in view.intersection_space().items() if k in self.search_space}

    def sample_relative(
        self, view: StudyView, trial: TrialRecord, space: dict[str, Distribution]
    ) -> dict[str, ParamValue]:
        if not space:
            return {}
        point = self.point(self.grid_index(view, trial))
        return {name: self._value(name, dist, point) for name, dist in space.items()}

    def sample_independent(
        self, view: StudyView, trial: TrialRecord, name: str, dist: Distribution
    ) -> ParamValue:
        return self._value(name, dist, self.point(self.grid_index(view, trial)))

    def _value(self, name: str, dist: Distribution, point: dict[str, ParamValue]) -> ParamValue:
        if name not in point:
            raise InvalidValue(
                f"parameter {name!r} is not in the grid (its params are {', '.join(self._names)}); "
                "add its values to the grid sampler's search_space"
            )
        value = point[name]
        try:
            internal = dist.to_internal(value)
        except InvalidValue:
            internal = math.nan
        if not dist.contains(internal):
            raise InvalidValue(
                f"the grid value {value!r} of parameter {name!r} is outside {dist}; "
                "make the grid and the objective's distribution agree"
            )
        return dist.to_external(internal)
