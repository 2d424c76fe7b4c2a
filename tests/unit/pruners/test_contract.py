"""The Pruner contract, run over every registered pruner: state is only a cache of the
StudyView (a restart changes no decision), a decision changes nothing it is shown, and
next_step never hides a decision that could have been different."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.pruners.histories import Player, Run, Script, scripts
from tests.unit.pruners.reference import fresh_decision, seen
from tunefleet.core import events as ev
from tunefleet.core.settings import Direction, PluginSpec, StudySettings
from tunefleet.core.study import Study
from tunefleet.errors import ConfigError
from tunefleet.pruners import PRUNERS, make_pruner
from tunefleet.samplers import RandomSampler

SPECS: list[tuple[str, dict[str, Any]]] = [
    ("nop", {}),
    ("median", {"n_startup_trials": 2}),
    ("percentile", {"percentile": 25.0, "n_startup_trials": 1, "n_warmup_steps": 2, "interval_steps": 3}),
    ("successive_halving", {"min_resource": 1, "reduction_factor": 2}),
    ("asha", {}),
    ("hyperband", {"max_resource": 9, "reduction_factor": 2, "bootstrap_count": 1}),
    ("hyperband", {}),
    ("threshold", {"upper": 3.0, "n_warmup_steps": 1, "interval_steps": 2}),
    ("patient", {"wrapped_pruner": {"name": "asha", "min_resource": 1, "reduction_factor": 2},
                 "patience": 1}),
    ("patient", {"wrapped_pruner": None, "patience": 2, "min_delta": 0.5}),
    ("patient", {"wrapped_pruner": {"name": "median", "n_startup_trials": 1, "interval_steps": 2},
                 "patience": 0}),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(SPECS)]
slow = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
any_history = st.tuples(scripts(max_steps=20, levels=5), st.sampled_from(["minimize", "maximize"]))


def test_every_registered_pruner_is_in_the_contract_suite() -> None:
    assert {name for name, _ in SPECS} == set(PRUNERS)


@pytest.mark.parametrize(("name", "options"), SPECS, ids=IDS)
@slow
@given(history=any_history, cut=st.integers(0, 150))
def test_a_restart_changes_no_decision(
    name: str, options: dict[str, Any], history: tuple[Script, str], cut: int
) -> None:
    script, direction = history
    live = Run(make_pruner(name, options), direction)
    player = Player(script, [live])
    player.play(reports=cut)
    player.runs.append(live.replayed(make_pruner(name, options)))
    player.play()


@pytest.mark.parametrize(("name", "options"), SPECS, ids=IDS)
@slow
@given(history=any_history)
def test_a_decision_is_a_function_of_the_history_and_changes_nothing_it_is_shown(
    name: str, options: dict[str, Any], history: tuple[Script, str]
) -> None:
    script, direction = history

    def expect(run: Run, number: int, step: int, value: float) -> Any:
        trials = copy.deepcopy(run.study.trials)
        shown = seen(run, number, step, value)
        shown_before = copy.deepcopy(shown)
        fresh = fresh_decision(make_pruner(name, options), run, number, step, value)
        again = run.study.pruner.on_report(run.study.view, shown, step, value)  # twice: no change
        assert run.study.trials == trials and shown == shown_before
        assert again == fresh
        return fresh

    Player(script, [Run(make_pruner(name, options), direction)], expect=expect).play()


@pytest.mark.parametrize(("name", "options"), SPECS, ids=IDS)
@slow
@given(history=any_history)
def test_no_report_before_next_step_could_have_been_pruned(
    name: str, options: dict[str, Any], history: tuple[Script, str]
) -> None:
    """So a worker may hold its reports until next_step: nothing is lost by it."""
    script, direction = history
    run = Run(make_pruner(name, options), direction)
    Player(script, [run]).play()
    hold: dict[int, int] = {}
    for e in run.events:
        if isinstance(e, ev.IntermediateReported):
            step = max(e.values)
            if e.number in hold and step < hold.pop(e.number):
                assert not e.prune, (e.number, step)
            if e.prune:
                assert e.next_step is None
            elif e.next_step is not None:
                assert e.next_step > step
                hold[e.number] = e.next_step


@pytest.mark.parametrize(("name", "options"), [s for s in SPECS if s[0] != "nop"], ids=IDS[1:])
def test_studies_with_several_objectives_refuse_every_pruner_but_nop(
    name: str, options: dict[str, Any]
) -> None:
    two = StudySettings(directions=(Direction.MINIMIZE,) * 2, pruner=PluginSpec(name, options))
    with pytest.raises(ConfigError, match="one objective only"):
        Study("s", two, RandomSampler(), make_pruner(name, options))
