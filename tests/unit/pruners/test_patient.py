"""PatientPruner: Optuna's patience rule, a wrapped pruner given as an object or a spec."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.pruners.histories import NAN, Run
from tunefleet.errors import ConfigError
from tunefleet.pruners import (
    PRUNERS,
    MedianPruner,
    PatientPruner,
    SuccessiveHalvingPruner,
    ThresholdPruner,
    make_pruner,
)
from tunefleet.registry import spec_of


def prunes(pruner: PatientPruner, curve: list[float], direction: str = "minimize") -> list[bool]:
    """The decision after each value of ``curve``, reported at steps 0, 1, 2 ... one by one."""
    run = Run(pruner, direction)
    number = run.start()
    return [run.report(number, {step: v}).prune for step, v in enumerate(curve)]


@pytest.mark.parametrize(
    ("patience", "min_delta", "curve", "expected"),
    [
        # patience 2: prune once the best of the last 3 is worse than the best before them
        (2, 0.0, [5.0, 4.0, 4.5, 4.6, 4.7], [False, False, False, False, True]),
        (2, 0.0, [5.0, 4.0, 4.5, 4.6, 3.9], [False] * 5),
        (2, 0.0, [5.0, 4.0, 4.5, 4.6, 4.0], [False] * 5),  # equal is not worse
        (2, 0.6, [5.0, 4.0, 4.5, 4.6, 4.7], [False] * 5),  # within min_delta
        (2, 0.4, [5.0, 4.0, 4.5, 4.6, 4.7], [False, False, False, False, True]),
        (0, 0.0, [3.0, 2.0, 2.5], [False, False, True]),
        (1, 0.0, [NAN, NAN, NAN, NAN], [False] * 4),  # NaN compares as nothing
        (1, 0.0, [1.0, NAN, 2.0, 0.5], [False, False, True, False]),  # NaN is skipped
    ],
)
def test_the_patience_rule(patience: int, min_delta: float, curve: list[float], expected: list[bool]) -> None:
    pruner = PatientPruner(wrapped_pruner=None, patience=patience, min_delta=min_delta)
    assert prunes(pruner, curve) == expected
    mirrored = PatientPruner(wrapped_pruner=None, patience=patience, min_delta=min_delta)
    assert prunes(mirrored, [-v for v in curve], "maximize") == expected


def test_a_stalled_trial_is_pruned_only_if_the_wrapped_pruner_agrees() -> None:
    curve = [5.0, 4.0, 4.5, 4.6, 4.7, 2.0, 3.0]
    lenient = PatientPruner(wrapped_pruner=ThresholdPruner(upper=4.65), patience=2)
    assert prunes(lenient, curve) == [False] * 4 + [True] + [False] * 2
    strict = PatientPruner(wrapped_pruner=ThresholdPruner(upper=10.0), patience=2)
    assert prunes(strict, curve) == [False] * 7
    eager = ThresholdPruner(upper=0.0)  # prunes everything, but patience asks it only when stalled
    assert prunes(PatientPruner(wrapped_pruner=eager, patience=1), [3.0, 2.0, 2.5, 2.6]) == [
        False, False, False, True]


def test_the_wrapped_pruners_decision_comes_through_whole() -> None:
    inner = SuccessiveHalvingPruner(min_resource=1, reduction_factor=2)
    run = Run(PatientPruner(wrapped_pruner=inner, patience=0))
    number = run.start()
    run.report(number, {0: 1.0})
    run.report(number, {1: 2.0})  # stalled, and step 1 is rung 0's: asha promotes (alone)
    d = run.decision()
    assert (d.prune, d.rung, d.next_step) == (False, 1, 2)
    assert run.study.trial(number).rung == 1


def test_a_spec_builds_the_wrapped_pruner_and_spec_of_gives_it_back() -> None:
    options = {"wrapped_pruner": {"name": "median", "n_startup_trials": 1}, "patience": 3}
    pruner = make_pruner("patient", options)
    assert isinstance(pruner, PatientPruner)
    assert isinstance(pruner.wrapped, MedianPruner) and pruner.wrapped.n_startup_trials == 1
    name, back = spec_of(PRUNERS, pruner)
    assert (name, back) == ("patient", {
        "wrapped_pruner": {"name": "median", "n_startup_trials": 1, "n_warmup_steps": 0,
                           "interval_steps": 1, "n_min_trials": 1},
        "patience": 3,
        "min_delta": 0.0,
    })
    again = make_pruner(name, back)
    assert spec_of(PRUNERS, again) == (name, back)
    nested = PatientPruner(wrapped_pruner=pruner, patience=1)
    assert spec_of(PRUNERS, nested)[1]["wrapped_pruner"] == {"name": "patient", **back}
    as_plugin_spec = PatientPruner(wrapped_pruner={"name": "asha", "options": {"min_resource": 2}},
                                   patience=1)
    assert as_plugin_spec.wrapped_pruner == {"name": "successive_halving", "min_resource": 2,
                                             "reduction_factor": 4, "min_early_stopping_rate": 0,
                                             "bootstrap_count": 0}
    assert PatientPruner(wrapped_pruner=None, patience=1).wrapped_pruner is None


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"wrapped_pruner": None, "patience": -1}, "patience"),
        ({"wrapped_pruner": None, "patience": 1, "min_delta": -0.1}, "min_delta"),
        ({"wrapped_pruner": {"name": "meidan"}, "patience": 1}, r"did you mean 'median'"),
        ({"wrapped_pruner": {"name": "median", "warmup": 1}, "patience": 1}, "has no option 'warmup'"),
        ({"wrapped_pruner": {"n_startup_trials": 1}, "patience": 1}, "needs a 'name'"),
        ({"wrapped_pruner": "median", "patience": 1}, "wrapped_pruner must be"),
    ],
)
def test_bad_options(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PatientPruner(**options)
    with pytest.raises(ConfigError, match=match):
        make_pruner("patient", options)


def test_wrapped_pruner_and_patience_are_required_as_in_optuna() -> None:
    with pytest.raises(ConfigError, match="pruner 'patient'"):
        make_pruner("patient", {"patience": 1})
