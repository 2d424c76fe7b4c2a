"""ThresholdPruner: the newest value against lower/upper, NaN, warm-up and interval."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.unit.pruners.histories import NAN, Run
from tunefleet.pruners import PRUNERS, ThresholdPruner, make_pruner
from tunefleet.registry import spec_of


def pruned_at(pruner: ThresholdPruner, curve: dict[int, float], direction: str = "minimize") -> int | None:
    """The step at which a trial reporting ``curve`` one step at a time is pruned."""
    run = Run(pruner, direction)
    number = run.start()
    for step in sorted(curve):
        if run.report(number, {step: curve[step]}).prune:
            return step
    return None


@pytest.mark.parametrize(
    ("options", "curve", "step"),
    [
        ({"upper": 1.0}, {0: 0.0, 1: 0.5, 2: 1.0, 3: 1.2, 4: 0.0}, 3),  # at the bound is inside
        ({"lower": 0.0}, {0: 100.0, 1: 0.1, 2: 0.0, 3: -1.0}, 3),
        ({"lower": 0.0, "upper": 1.0}, {0: 0.5, 1: 2.0}, 1),
        ({"lower": 0.0, "upper": 1.0}, {0: 0.5, 1: 0.5}, None),
        ({"upper": 1.0}, {0: 0.0, 1: NAN}, 1),  # NaN too
        ({}, {0: 1e300, 1: -1e300, 2: NAN}, 2),  # no bounds: NaN only
        ({"upper": 1.0}, {0: math.inf}, 0),
        ({"lower": 0.0}, {0: 5.0, 1: -math.inf}, 1),
        ({"upper": 1.0}, {0: 9.0, 1: 0.0}, 0),  # the newest value counts, not the best
        ({"lower": 0.0}, {0: -9.0, 1: 0.0}, 0),
    ],
)
def test_the_newest_value_outside_the_band_or_nan_is_pruned(
    options: dict[str, Any], curve: dict[int, float], step: int | None
) -> None:
    for direction in ("minimize", "maximize"):  # the direction plays no part
        assert pruned_at(ThresholdPruner(**options), curve, direction) == step


@pytest.mark.parametrize(
    ("warmup", "interval", "steps", "checked"),
    [
        (2, 1, [0, 1, 2, 3], [2, 3]),
        (0, 3, [0, 1, 2, 3, 4, 5, 6], [0, 3, 6]),
        (1, 2, [0, 1, 2, 3, 4, 5], [1, 3, 5]),
        (0, 4, [1, 2, 5, 9], [1, 5, 9]),  # the first report in each interval
    ],
)
def test_warmup_and_interval(warmup: int, interval: int, steps: list[int], checked: list[int]) -> None:
    pruner = ThresholdPruner(upper=0.0, n_warmup_steps=warmup, interval_steps=interval)
    run = Run(pruner)
    number = run.start()
    got, next_steps = [], []
    for step in steps:
        run.report(number, {step: 1.0})  # always out: pruned wherever it is checked
        d = run.decision()
        if d.prune:
            got.append(step)
        else:
            next_steps.append((step, d.next_step))
    assert got == checked
    for step, nxt in next_steps:  # the decision cannot change before the next check
        assert nxt is not None and nxt > step and all(s >= nxt for s in checked if s > step)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"lower": 2.0, "upper": 1.0}, "lower must be <= upper"),
        ({"lower": "low"}, "lower"),
        ({"upper": NAN}, "upper"),
        ({"lower": True}, "lower"),
        ({"n_warmup_steps": -1}, "n_warmup_steps"),
        ({"interval_steps": 0}, "interval_steps"),
    ],
)
def test_bad_options(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ThresholdPruner(**options)


def test_registered_with_optunas_defaults() -> None:
    pruner = make_pruner("threshold", {"lower": 1})
    assert spec_of(PRUNERS, pruner) == ("threshold", {
        "lower": 1.0, "upper": None, "n_warmup_steps": 0, "interval_steps": 1})
