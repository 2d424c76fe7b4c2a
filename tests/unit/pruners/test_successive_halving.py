"""SuccessiveHalvingPruner: Algorithm 1 of the Optuna paper, step by step, on hand-made
and random histories; decisions after a rebuild equal the live ones."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.pruners.histories import NAN, Player, Run, scripts
from tests.unit.pruners.reference import ReferenceASHA, fresh_decision
from tunefleet.core.trial import TrialState
from tunefleet.pruners import PRUNERS, SuccessiveHalvingPruner, make_pruner
from tunefleet.pruners.rungs import value_from
from tunefleet.registry import spec_of

ASHA = SuccessiveHalvingPruner
slow = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reach_rung_0(run: Run, value: float) -> tuple[int, Any]:
    """A new trial reporting ``value`` at step 1 (rung 0's step with min_resource=1)."""
    number = run.start()
    run.report(number, {1: value})
    return number, run.decision()


# ---- the rungs, one trial at a time ---------------------------------------------------------
def test_a_lone_trial_climbs_every_rung_and_is_told_the_next_rung_step() -> None:
    run = Run(ASHA(min_resource=1, reduction_factor=2))
    number = run.start()
    seen = []
    for step in range(10):
        run.report(number, {step: 1.0})
        d = run.decision()
        seen.append((step, d.prune, d.rung, d.next_step))
    assert seen == [
        (0, False, None, 1),
        (1, False, 1, 2),  # completed rung 0 at step 1, promoted to rung 1 (next at 2)
        (2, False, 2, 4),
        (3, False, 2, 4),
        (4, False, 3, 8),
        (5, False, 3, 8), (6, False, 3, 8), (7, False, 3, 8),
        (8, False, 4, 16),
        (9, False, 4, 16),
    ]
    assert run.study.trial(number).rung == 4, "the rung is journaled on the trial"


@pytest.mark.parametrize(("direction", "sign"), [("minimize", 1.0), ("maximize", -1.0)])
def test_promotion_keeps_the_best_1_over_eta_of_everyone_who_reached_the_rung(
    direction: str, sign: float
) -> None:
    # eta = 2: of n values at a rung, a trial goes on if it is within the best max(n // 2, 1)
    run = Run(ASHA(min_resource=1, reduction_factor=2), direction)
    table = [
        (5.0, False),  # alone: promoted
        (3.0, False),  # [3, 5]: best 1 of 2
        (4.0, True),  # [3, 4, 5]: best 1 of 3, 4 is not
        (1.0, False),  # [1, 3, 4, 5]: best 2 of 4 (1, 3)
        (3.0, False),  # [1, 3, 3, 4, 5]: best 2; a tie with the 2nd is promoted
        (3.5, True),  # [1, 3, 3, 3.5, 4, 5]: best 3 (1, 3, 3); pruned values counted too
    ]
    for value, pruned in table:
        number, d = reach_rung_0(run, sign * value)
        assert d.prune is pruned, (value, d)
        assert d.rung == 1, "promoted or not, the trial completed rung 0"
        assert d.next_step == (None if pruned else 2)
        run.finish(number, TrialState.PRUNED if pruned else TrialState.COMPLETE)


def test_with_fewer_than_eta_trials_in_a_rung_only_the_best_goes_on() -> None:
    run = Run(ASHA(min_resource=1, reduction_factor=4))
    assert [reach_rung_0(run, v)[1].prune for v in (5.0, 6.0, 5.0, 4.0)] == [False, True, False, False]
    # 5 values now: the best 5 // 4 = 1 goes on
    assert [reach_rung_0(run, v)[1].prune for v in (4.0, 3.9)] == [False, False]
    # 7 values [3.9, 4, 4, 5, 5, 6, x]: still the best 1; 8 values: the best 2
    assert reach_rung_0(run, 3.95)[1].prune is True
    assert reach_rung_0(run, 3.95)[1].prune is False


def test_running_trials_compete_with_the_values_their_rivals_had_at_the_rung() -> None:
    run = Run(ASHA(min_resource=2, reduction_factor=2))
    a, b = run.start(), run.start()
    for step in range(2):
        run.report(a, {step: 10.0})
        run.report(b, {step: 1.0})
    assert run.report(a, {2: 1.0}).prune is False  # alone at rung 0
    assert run.report(b, {2: 5.0}).prune is True  # [1, 5]: what A had at step 2 counts, not 10


def test_bootstrap_count_prunes_the_first_trials_to_reach_a_rung() -> None:
    run = Run(ASHA(min_resource=1, reduction_factor=2, bootstrap_count=2))
    decisions = [reach_rung_0(run, v)[1] for v in (1.0, 0.0, 2.0, 0.5)]
    assert [d.prune for d in decisions] == [True, True, True, False]
    assert [d.rung for d in decisions] == [1, 1, 1, 1], "their values still stand in rung 0"


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_nan_is_pruned_at_a_rung_step_only_and_never_joins_a_rung(direction: str) -> None:
    run = Run(ASHA(min_resource=2, reduction_factor=2), direction)
    number = run.start()
    assert run.report(number, {0: NAN}).prune is False
    assert run.report(number, {1: NAN}).prune is False  # between rungs nothing is decided
    assert run.report(number, {2: NAN}).prune is True
    assert run.decision().rung is None
    run.finish(number, TrialState.PRUNED)
    other = run.start()
    assert run.report(other, {2: 1e9 if direction == "minimize" else -1e9}).prune is False, "alone"


def test_min_early_stopping_rate_moves_the_first_rung() -> None:
    run = Run(ASHA(min_resource=3, reduction_factor=2, min_early_stopping_rate=2))
    number = run.start()
    run.report(number, {11: 1.0})
    assert run.decision().next_step == 12 and run.decision().rung is None
    run.report(number, {12: 1.0})
    assert (run.decision().rung, run.decision().next_step) == (1, 24)


def test_a_report_past_several_rung_steps_decides_them_all_with_that_value() -> None:
    run = Run(ASHA(min_resource=1, reduction_factor=2))
    leader = run.start()
    run.report(leader, {8: 1.0})
    assert (run.decision().rung, run.decision().next_step) == (4, 16)
    late = run.start()
    run.report(late, {0: 0.0})
    assert run.report(late, {5: 2.0}).prune is True  # rung 0: [1, 2] keeps 1 of 2
    assert run.decision().rung == 1


def test_a_batch_of_held_reports_is_judged_at_the_rung_step() -> None:
    """A worker holds reports until next_step and sends them together: the value that
    competes is the one at the first reported step past the rung's step."""
    run = Run(ASHA(min_resource=4, reduction_factor=2))
    a = run.start()
    run.report(a, {0: 9.0, 1: 9.0, 2: 9.0, 3: 9.0, 4: 2.0})
    b = run.start()
    run.report(b, {s: 1.0 for s in range(4)} | {5: 3.0, 6: 3.0})  # skipped 4: step 5 counts
    assert run.decision().prune is True
    assert value_from({0: 1.0, 5: 3.0, 6: 4.0}, 4) == 3.0
    assert value_from({0: 1.0, 6: 4.0, 5: 3.0}, 4) == 4.0, "in the order they were reported"
    assert value_from({0: 1.0}, 4) is None


def test_a_step_reported_late_does_not_change_what_a_rung_held_even_after_a_restart() -> None:
    live = Run(ASHA(min_resource=4, reduction_factor=2))
    a = live.start()
    live.report(a, {0: 0.0})
    assert live.report(a, {6: 5.0}).prune is False  # rung 0 holds 5.0 (alone)
    live.report(a, {5: 0.0})  # late, out of order: rung 0 still holds 5.0, as in Optuna
    twin = live.replayed(ASHA(min_resource=4, reduction_factor=2))
    for run in (live, twin):
        b = run.start()
        assert run.report(b, {4: 4.0}).prune is False, "4 < 5: the best of [4, 5]"


def test_auto_min_resource_waits_for_the_first_complete_trial() -> None:
    run = Run(ASHA())
    number = run.start()
    for step in range(300):
        assert run.report(number, {step: float(step)}).prune is False
    assert run.decision().next_step is None, "no rung is known yet: every report counts"
    run.finish(number, value=1.0)  # last step 299: min_resource = 299 // 100 = 2
    assert ASHA().resolved_min_resource(run.study.view) == 2
    other = run.start()
    run.report(other, {1: 500.0})
    assert run.decision().next_step == 2
    assert run.report(other, {2: 500.0}).prune is False  # alone in rung 0 (the first has none)


def test_auto_min_resource_comes_from_the_first_trial_to_complete_and_stays() -> None:
    run = Run(ASHA())
    run.finish(run.start(), value=1.0)  # complete without values: skipped
    run.trial_with({s: 1.0 for s in range(50)}, TrialState.PRUNED)  # not complete: skipped
    run.trial_with({s: 1.0 for s in range(450)})  # the first: 449 // 100 = 4
    run.trial_with({s: 1.0 for s in range(1000)})
    assert ASHA().resolved_min_resource(run.study.view) == 4
    assert ASHA(min_resource=7).resolved_min_resource(run.study.view) == 7


def test_auto_min_resource_is_at_least_1() -> None:
    run = Run(ASHA())
    run.trial_with({0: 1.0, 1: 1.0})
    assert ASHA().resolved_min_resource(run.study.view) == 1


# ---- against Algorithm 1 written down plainly --------------------------------------------
@slow
@given(
    script=scripts(),
    eta=st.integers(2, 4),
    min_resource=st.integers(1, 3),
    rate=st.integers(0, 1),
    bootstrap=st.integers(0, 3),
    direction=st.sampled_from(["minimize", "maximize"]),
)
def test_decisions_equal_algorithm_1(
    script: Any, eta: int, min_resource: int, rate: int, bootstrap: int, direction: str
) -> None:
    pruner = ASHA(min_resource=min_resource, reduction_factor=eta, min_early_stopping_rate=rate,
                  bootstrap_count=bootstrap)
    reference = ReferenceASHA(min_resource, eta, rate, bootstrap, maximize=direction == "maximize")
    Player(script, [Run(pruner, direction)],
           expect=lambda run, number, step, value: reference.prune(number, step, value)).play()


# ---- a pruner's state is only a cache ---------------------------------------------------------
OPTIONS = [
    {"min_resource": 1, "reduction_factor": 2},
    {"min_resource": 2, "reduction_factor": 3, "bootstrap_count": 2},
    {"min_resource": 1, "reduction_factor": 2, "min_early_stopping_rate": 1},
    {},  # auto min_resource
]


@slow
@given(script=scripts(max_steps=30), options=st.sampled_from(OPTIONS),
       direction=st.sampled_from(["minimize", "maximize"]), cut=st.integers(0, 200))
def test_after_a_restart_the_replayed_study_decides_as_the_live_one(
    script: Any, options: dict[str, int], direction: str, cut: int
) -> None:
    live = Run(ASHA(**options), direction)
    player = Player(script, [live])
    player.play(reports=cut)
    player.runs.append(live.replayed(ASHA(**options)))  # a coordinator restart, then both go on
    player.play()


@slow
@given(script=scripts(max_steps=30), options=st.sampled_from(OPTIONS),
       direction=st.sampled_from(["minimize", "maximize"]))
def test_every_decision_equals_a_fresh_pruners_on_the_same_history(
    script: Any, options: dict[str, int], direction: str
) -> None:
    Player(script, [Run(ASHA(**options), direction)],
           expect=lambda run, *report: fresh_decision(ASHA(**options), run, *report)).play()


def test_a_pruner_moved_to_another_study_starts_over() -> None:
    pruner = ASHA(min_resource=1, reduction_factor=2)
    first = Run(pruner)
    reach_rung_0(first, 0.0)
    second = Run(pruner)
    assert reach_rung_0(second, 5.0)[1].prune is False, "alone in the second study's rung 0"


# ---- options ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"min_resource": 0}, "min_resource"),
        ({"min_resource": "half"}, "min_resource"),
        ({"min_resource": 1.5}, "min_resource"),
        ({"reduction_factor": 1}, "reduction_factor"),
        ({"min_early_stopping_rate": -1}, "min_early_stopping_rate"),
        ({"bootstrap_count": -1}, "bootstrap_count"),
        ({"bootstrap_count": 2}, "auto"),  # as Optuna: bootstrap needs a fixed min_resource
    ],
)
def test_bad_options(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ASHA(**options)


def test_registered_as_successive_halving_and_asha_with_optunas_defaults() -> None:
    assert PRUNERS["successive_halving"] is PRUNERS["asha"] is ASHA
    pruner = make_pruner("asha", {"min_resource": 3, "reduction_factor": 3})
    assert spec_of(PRUNERS, pruner) == ("successive_halving", {
        "min_resource": 3, "reduction_factor": 3, "min_early_stopping_rate": 0, "bootstrap_count": 0})
    default = ASHA()
    assert (default.min_resource, default.reduction_factor, default.min_early_stopping_rate,
            default.bootstrap_count) == ("auto", 4, 0, 0)
    assert math.isnan(NAN)
