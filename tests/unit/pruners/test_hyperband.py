"""HyperbandPruner: brackets as Optuna draws them, each a successive halving of its own
trials; brackets and decisions are the same after a rebuild."""

from __future__ import annotations

import collections
import zlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.pruners.histories import Player, Run, scripts
from tests.unit.pruners.reference import ReferenceHyperband, fresh_decision
from tunefleet.core.trial import TrialState
from tunefleet.pruners import PRUNERS, HyperbandPruner, make_pruner
from tunefleet.registry import spec_of

HB = HyperbandPruner
slow = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(
    ("min_resource", "max_resource", "eta", "budgets"),
    [
        (1, 27, 3, [27, 12, 6, 4]),  # floor(log3 27) + 1 = 4 brackets; ceil(4 * 3**s / (s + 1))
        (1, 9, 3, [9, 5, 3]),
        (1, 4, 2, [4, 3, 3]),
        (2, 100, 3, [27, 12, 6, 4]),  # floor(log3 50) + 1 = 4
        (1, 1, 3, [1]),
        (5, 4, 3, [1]),  # max below min: one bracket (Optuna would have none and never prune)
    ],
)
def test_brackets_and_their_budgets_follow_optunas_formula(
    min_resource: int, max_resource: int, eta: int, budgets: list[int]
) -> None:
    pruner = HB(min_resource=min_resource, max_resource=max_resource, reduction_factor=eta)
    assert pruner.n_brackets == len(budgets)
    assert pruner.budgets == tuple(budgets)


def test_a_trials_bracket_is_drawn_by_budget_from_its_number_and_the_seed() -> None:
    pruner = HB(max_resource=27, seed=7)
    counts = collections.Counter(pruner.bracket_of(n) for n in range(49_000))
    assert [round(counts[b] / 1000) for b in range(4)] == [27, 12, 6, 4]  # of 49 per 49,000
    for n in range(200):  # crc32 of "{seed}_{number}", as Optuna's of "{study name}_{number}"
        k = zlib.crc32(f"7_{n}".encode()) % 49
        assert pruner.bracket_of(n) == (0 if k < 27 else 1 if k < 39 else 2 if k < 45 else 3)
    assert [HB(max_resource=27, seed=8).bracket_of(n) for n in range(50)] != [
        pruner.bracket_of(n) for n in range(50)]


def numbers_in(pruner: HB, run: Run, bracket: int, count: int) -> list[int]:
    """Start trials until ``count`` of them fall in ``bracket``; the others end at once."""
    found: list[int] = []
    while len(found) < count:
        number = run.start()
        if pruner.bracket_of(number) == bracket:
            found.append(number)
        else:
            run.finish(number, TrialState.FAIL)
    return found


def test_each_bracket_is_a_successive_halving_of_its_own_trials() -> None:
    pruner = HB(min_resource=1, max_resource=4, reduction_factor=2)  # brackets 0, 1, 2
    run = Run(pruner)
    (a,) = numbers_in(pruner, run, 0, 1)
    run.report(a, {1: 0.0})
    assert (run.decision().rung, run.decision().next_step) == (1, 2)  # rungs at 1, 2, 4 ...
    assert run.report(a, {2: 0.0}).prune is False
    (b,) = numbers_in(pruner, run, 1, 1)
    assert run.report(b, {1: 9.0}).prune is False
    assert run.decision().next_step == 2, "bracket 1 starts at min_resource * eta"
    assert run.report(b, {2: 9.0}).prune is False, "alone in its bracket: A's 0.0 is elsewhere"
    assert (run.decision().rung, run.decision().next_step) == (1, 4)
    (c,) = numbers_in(pruner, run, 1, 1)
    assert run.report(c, {2: 10.0}).prune is True, "[9, 10] in bracket 1's rung 0"


def test_auto_max_resource_waits_for_the_first_complete_trial() -> None:
    pruner = HB(min_resource=1, reduction_factor=3)
    run = Run(pruner)
    number = run.start()
    assert pruner.bracket_of(number, run.study.view) == 0, "unknown yet: 0, as Optuna"
    for step in range(30):
        assert run.report(number, {step: 1.0}).prune is False
    assert run.decision().next_step is None and pruner.n_brackets is None
    run.finish(number, value=1.0)  # last step 29: max_resource 30, floor(log3 30) + 1 = 4
    run.trial_with({s: 1.0 for s in range(1000)})
    assert pruner.bracket_of(0, run.study.view) == HB(max_resource=30).bracket_of(0)
    assert pruner.n_brackets == 4



def test_the_study_view_gives_samplers_each_trials_bracket_as_its_cohort() -> None:
    pruner = HB(min_resource=1, reduction_factor=3)
    run = Run(pruner)
    view = run.study.view
    number = run.start()
    assert view.cohort_of(number) is None, "auto: no brackets yet, so one cohort for all"
    run.finish(number, value=1.0)  # no reports: nothing settles "auto" yet
    run.trial_with({s: 1.0 for s in range(27)})  # last step 26: max_resource 27
    assert [view.cohort_of(n) for n in range(40)] == [pruner.bracket_of(n) for n in range(40)]
    assert len({view.cohort_of(n) for n in range(40)}) > 1
    wrapped = Run(make_pruner("patient", {"wrapped_pruner": {"name": "hyperband", "max_resource": 9},
                                          "patience": 1}))
    assert wrapped.study.view.cohort_of(5) == HB(max_resource=9).bracket_of(5)
    assert Run(make_pruner("median")).study.view.cohort_of(5) is None

@slow
@given(script=scripts(max_steps=30), eta=st.integers(2, 3), max_resource=st.integers(1, 30),
       seed=st.integers(0, 3), direction=st.sampled_from(["minimize", "maximize"]))
def test_decisions_equal_optunas_hyperband_written_down(
    script: Any, eta: int, max_resource: int, seed: int, direction: str
) -> None:
    pruner = HB(min_resource=1, max_resource=max_resource, reduction_factor=eta, seed=seed)
    reference = ReferenceHyperband(1, max_resource, eta, str(seed), maximize=direction == "maximize")
    Player(script, [Run(pruner, direction)],
           expect=lambda run, number, step, value: reference.prune(number, step, value)).play()


OPTIONS: list[dict[str, Any]] = [
    {"max_resource": 9, "reduction_factor": 2},
    {"max_resource": 20, "reduction_factor": 3, "bootstrap_count": 1, "seed": 3},
    {"min_resource": 2},  # auto max_resource
]


@slow
@given(script=scripts(max_steps=30), options=st.sampled_from(OPTIONS),
       direction=st.sampled_from(["minimize", "maximize"]), cut=st.integers(0, 200))
def test_after_a_restart_brackets_and_decisions_are_the_same(
    script: Any, options: dict[str, Any], direction: str, cut: int
) -> None:
    live = Run(HB(**options), direction)
    player = Player(script, [live])
    player.play(reports=cut)
    twin = live.replayed(HB(**options))
    view = twin.study.view
    assert [twin.pruner.bracket_of(n, view) for n in range(60)] == [  # type: ignore[attr-defined]
        live.pruner.bracket_of(n, live.study.view) for n in range(60)]  # type: ignore[attr-defined]
    player.runs.append(twin)
    player.play()


@slow
@given(script=scripts(max_steps=30), options=st.sampled_from(OPTIONS),
       direction=st.sampled_from(["minimize", "maximize"]))
def test_every_decision_equals_a_fresh_pruners_on_the_same_history(
    script: Any, options: dict[str, Any], direction: str
) -> None:
    Player(script, [Run(HB(**options), direction)],
           expect=lambda run, *report: fresh_decision(HB(**options), run, *report)).play()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"min_resource": 0}, "min_resource"),
        ({"min_resource": "auto"}, "min_resource"),
        ({"max_resource": 0}, "max_resource"),
        ({"max_resource": "big"}, "max_resource"),
        ({"reduction_factor": 1}, "reduction_factor"),
        ({"bootstrap_count": -1}, "bootstrap_count"),
        ({"bootstrap_count": 1}, "auto"),
        ({"seed": "s"}, "seed"),
    ],
)
def test_bad_options(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        HB(**options)


def test_registered_with_optunas_defaults() -> None:
    pruner = make_pruner("hyperband", {"max_resource": 81})
    assert spec_of(PRUNERS, pruner) == ("hyperband", {
        "min_resource": 1, "max_resource": 81, "reduction_factor": 3, "bootstrap_count": 0, "seed": 0})
    assert HB().max_resource == "auto"
