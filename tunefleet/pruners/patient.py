"""PatientPruner: ask a wrapped pruner only once a trial has stopped improving."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tunefleet.core.history import StudyView
from tunefleet.core.settings import Direction
from tunefleet.core.study import PruneDecision
from tunefleet.core.trial import TrialRecord
from tunefleet.errors import ConfigError
from tunefleet.pruners.base import Pruner
from tunefleet.registry import spec_of

WrappedSpec = Mapping[str, Any]  # {"name": "median", **options} (or {"name": ..., "options": {...}})


def _best(values: list[float], maximize: bool) -> float:
    """numpy's nanmax/nanmin without the warning: NaN when every value is NaN."""
    numbers = [v for v in values if not math.isnan(v)]
    if not numbers:
        return math.nan
    return max(numbers) if maximize else min(numbers)


def _build(spec: WrappedSpec) -> Pruner:
    from tunefleet.pruners import make_pruner  # the registry imports this module

    options = dict(spec)
    name = options.pop("name", None)
    if not isinstance(name, str):
        raise ValueError(f"wrapped_pruner needs a 'name', e.g. {{'name': 'median'}}; got {dict(spec)!r}")
    if set(options) == {"options"} and isinstance(options["options"], Mapping):
        options = dict(options["options"])
    try:
        return make_pruner(name, options)
    except ConfigError as exc:
        raise ValueError(f"wrapped_pruner: {exc}") from None


class PatientPruner(Pruner):
    """Prune only once the trial's best value of its last ``patience + 1`` reports is no
    better (by more than ``min_delta``) than its best before them, and then only if the
    wrapped pruner agrees (with none, prune then). Optuna's PatientPruner; the patience
    rule of early stopping, Prechelt, "Early Stopping - But When?", in Neural Networks:
    Tricks of the Trade, 1998.

    wrapped_pruner: a Pruner, or a spec {"name": ..., **options} built through the
        registry (what a study spec gives); reading the attribute gives the spec back, so
        ``registry.spec_of`` can rebuild this pruner. None: no second opinion.

    Holds nothing but its options and the wrapped pruner (whose cache is its own).
    """

    def __init__(
        self,
        *,
        wrapped_pruner: Pruner | WrappedSpec | None,
        patience: int,
        min_delta: float = 0.0,
    ) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"patience must be an int >= 0, got {patience!r}")
        if not float(min_delta) >= 0.0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta!r}")
        if wrapped_pruner is None or isinstance(wrapped_pruner, Pruner):
            self._wrapped = wrapped_pruner
        elif isinstance(wrapped_pruner, Mapping):
            self._wrapped = _build(wrapped_pruner)
        else:
            raise ValueError(
                f"wrapped_pruner must be a Pruner, a {{'name': ...}} spec or None, got {wrapped_pruner!r}"
            )
        self.patience = patience
        self.min_delta = float(min_delta)

    @property
    def wrapped(self) -> Pruner | None:
        """The wrapped pruner object."""
        return self._wrapped

    @property
    def wrapped_pruner(self) -> dict[str, Any] | Pruner | None:
        """The wrapped pruner as a spec {"name": ..., **options} (the object itself if it is
        not a registered pruner)."""
        if self._wrapped is None:
            return None
        from tunefleet.pruners import PRUNERS

        try:
            name, options = spec_of(PRUNERS, self._wrapped)
        except ConfigError:
            return self._wrapped
        return {"name": name, **options}

    def on_report(
        self, view: StudyView, trial: TrialRecord, step: int, value: float
    ) -> PruneDecision:
        values = trial.intermediate
        if len(values) <= self.patience + 1:
            return PruneDecision(False)
        steps = sorted(values)
        split = len(steps) - self.patience - 1
        maximize = view.directions[0] == Direction.MAXIMIZE
        before = _best([values[s] for s in steps[:split]], maximize)
        after = _best([values[s] for s in steps[split:]], maximize)
        stalled = before - self.min_delta > after if maximize else before + self.min_delta < after
        if not stalled:
            return PruneDecision(False)  # the next report may stall it: report every step
        if self._wrapped is None:
            return PruneDecision(True)
        return self._wrapped.on_report(view, trial, step, value)

    def cohort(self, view: StudyView, number: int) -> int | None:
        return None if self._wrapped is None else self._wrapped.cohort(view, number)
