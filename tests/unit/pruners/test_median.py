"""MedianPruner (and PercentilePruner): Optuna's parameters and decisions on hand-made histories."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.pruners.histories import Player, Run, Script, scripts
from tests.unit.pruners.reference import fresh_decision
from tunefleet.core.history import StudyView
from tunefleet.core.settings import Direction, StudySettings
from tunefleet.core.study import Study
from tunefleet.core.trial import TrialRecord, TrialState
from tunefleet.pruners import MedianPruner, NopPruner, PercentilePruner
from tunefleet.pruners.base import Pruner
from tunefleet.samplers import RandomSampler

nan = math.nan


def history(
    curves: Sequence[Mapping[int, float]],
    direction: str = "minimize",
    other: Sequence[tuple[TrialState, Mapping[int, float]]] = (),
) -> StudyView:
    """A study whose COMPLETE trials reported ``curves`` (and ``other`` finished trials)."""
    settings = StudySettings(directions=(Direction(direction),))
    study = Study("s", settings, RandomSampler(), NopPruner())
    for state, curve in [(TrialState.COMPLETE, c) for c in curves] + list(other):
        study.add_trial(
            state=state, values=0.0 if state == TrialState.COMPLETE else None, params={},
            distributions={}, intermediate=curve, request_id=None, now=0.0,
        )
    return study.view


def flat(*levels: float, steps: int = 6) -> list[dict[int, float]]:
    """One trial per level, reporting that level at steps 0 .. steps-1."""
    return [{s: level for s in range(steps)} for level in levels]


def decide(pruner: Pruner, view: StudyView, reported: Mapping[int, float], step: int | None = None):
    """The decision for a running trial that has reported ``reported``, the newest at ``step``."""
    step = max(reported) if step is None else step
    trial = TrialRecord(number=99, state=TrialState.RUNNING, intermediate=dict(reported))
    return pruner.on_report(view, trial, step, reported[step])


MEDIAN_3 = flat(1.0, 2.0, 3.0, 4.0, 5.0)  # the median at every step is 3


@pytest.mark.parametrize(
    ("direction", "reported", "prune"),
    [
        ("minimize", {0: 3.5}, True),
        ("minimize", {0: 2.5}, False),
        ("minimize", {0: 3.0}, False),  # at the median is not worse than it
        ("minimize", {0: 1.0, 1: 10.0}, False),  # the best so far counts, not the last
        ("minimize", {0: 4.0, 1: 3.5}, True),
        ("minimize", {0: 9.0, 1: 9.0, 2: 9.0, 3: 2.0}, False),
        ("maximize", {0: 2.5}, True),
        ("maximize", {0: 3.5}, False),
        ("maximize", {0: 3.0}, False),
        ("maximize", {0: 5.0, 1: 1.0}, False),
        ("maximize", {0: 2.0, 1: 2.9}, True),
    ],
)
def test_a_trial_worse_than_the_median_is_pruned(
    direction: str, reported: dict[int, float], prune: bool
) -> None:
    view = history(MEDIAN_3, direction)
    assert decide(MedianPruner(n_startup_trials=5), view, reported).prune is prune


def test_only_complete_trials_make_the_median() -> None:
    view = history(
        MEDIAN_3,
        other=[(TrialState.PRUNED, {0: 100.0}), (TrialState.PRUNED, {0: 100.0}),
               (TrialState.FAIL, {0: 100.0}), (TrialState.FAIL, {0: 100.0})],
    )
    assert decide(MedianPruner(), view, {0: 3.5}).prune is True


@pytest.mark.parametrize(
    ("n_complete", "n_startup_trials", "prune"),
    [(4, 5, False), (5, 5, True), (4, 4, True), (0, 0, False), (1, 0, True)],
)
def test_n_startup_trials(n_complete: int, n_startup_trials: int, prune: bool) -> None:
    view = history(flat(*range(1, n_complete + 1)))
    pruner = MedianPruner(n_startup_trials=n_startup_trials)
    assert decide(pruner, view, {0: 100.0}).prune is prune


@pytest.mark.parametrize(("step", "prune"), [(0, False), (1, False), (2, True), (3, True)])
def test_n_warmup_steps(step: int, prune: bool) -> None:
    pruner = MedianPruner(n_startup_trials=0, n_warmup_steps=2)
    reported = {s: 100.0 for s in range(step + 1)}
    assert decide(pruner, history(MEDIAN_3), reported).prune is prune


@pytest.mark.parametrize(
    ("warmup", "interval", "steps", "checked"),
    [
        # reports at every step: decisions at the start of each interval
        (0, 2, [0, 1, 2, 3, 4, 5], [0, 2, 4]),
        (1, 3, [0, 1, 2, 3, 4, 5], [1, 4]),
        (0, 1, [0, 1, 2, 3], [0, 1, 2, 3]),
        # sparse reports: the first report in each interval is checked (Optuna's rule)
        (0, 2, [1, 3, 5], [1, 3, 5]),
        (0, 2, [0, 3, 4], [0, 3, 4]),
        (0, 4, [1, 2, 5], [1, 5]),
    ],
)
def test_interval_steps(warmup: int, interval: int, steps: list[int], checked: list[int]) -> None:
    pruner = MedianPruner(n_startup_trials=0, n_warmup_steps=warmup, interval_steps=interval)
    view = history(MEDIAN_3)
    reported: dict[int, float] = {}
    pruned_at = []
    for step in steps:
        reported[step] = 100.0  # always worse than the median: pruned wherever it is checked
        if decide(pruner, view, reported).prune:
            pruned_at.append(step)
    assert pruned_at == checked


def test_next_step_names_where_the_decision_can_change() -> None:
    pruner = MedianPruner(n_startup_trials=0, n_warmup_steps=1, interval_steps=3)
    view = history(MEDIAN_3)
    assert decide(pruner, view, {0: 1.0, 1: 1.0}).next_step == 4
    assert decide(pruner, view, {0: 1.0, 1: 1.0, 2: 1.0}).next_step == 4
    assert decide(pruner, view, {1: 1.0, 4: 1.0}).next_step == 7


@pytest.mark.parametrize(("n_min_trials", "prune"), [(1, True), (2, True), (3, False)])
def test_n_min_trials_at_the_step(n_min_trials: int, prune: bool) -> None:
    curves = flat(1.0, 2.0, 3.0, steps=3) + flat(4.0, 5.0, steps=6)  # two reached step 5
    pruner = MedianPruner(n_startup_trials=0, n_min_trials=n_min_trials)
    reported = {s: 10.0 for s in range(6)}
    assert decide(pruner, history(curves), reported).prune is prune


def test_no_history_at_the_step_does_not_prune() -> None:
    pruner = MedianPruner(n_startup_trials=0)
    assert decide(pruner, history(MEDIAN_3), {50: 100.0}).prune is False


@pytest.mark.parametrize(
    ("curves", "reported", "prune"),
    [
        (MEDIAN_3, {0: nan}, True),  # only NaN so far: nothing to keep going for
        (MEDIAN_3, {0: nan, 1: nan}, True),
        (MEDIAN_3, {0: nan, 1: 2.0}, False),  # NaN is skipped, 2.0 is the best so far
        (MEDIAN_3, {0: nan, 1: 4.0}, True),
        (flat(nan, nan, nan), {0: 100.0}, False),  # no usable history
        (flat(1.0, nan, nan, 5.0, 6.0), {0: 5.5}, True),  # NaN history ignored: median 5
        (flat(1.0, nan, nan, 5.0, 6.0), {0: 4.5}, False),
    ],
)
def test_nan(curves: list[dict[int, float]], reported: dict[int, float], prune: bool) -> None:
    assert decide(MedianPruner(n_startup_trials=0), history(curves), reported).prune is prune


@pytest.mark.parametrize(
    ("direction", "value", "prune"),
    [("minimize", 2.5, True), ("minimize", 1.5, False),
     ("maximize", 3.5, True), ("maximize", 4.5, False)],
)
def test_percentile(direction: str, value: float, prune: bool) -> None:
    """The 25th percentile of 1..5 is 2 (minimize); maximizing, the 75th is 4."""
    view = history(MEDIAN_3, direction)
    pruner = PercentilePruner(percentile=25.0, n_startup_trials=0)
    assert decide(pruner, view, {0: value}).prune is prune


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: MedianPruner(n_startup_trials=-1), "n_startup_trials"),
        (lambda: MedianPruner(n_warmup_steps=-1), "n_warmup_steps"),
        (lambda: MedianPruner(interval_steps=0), "interval_steps"),
        (lambda: MedianPruner(n_min_trials=0), "n_min_trials"),
        (lambda: PercentilePruner(percentile=100.5), "percentile"),
        (lambda: PercentilePruner(percentile=-1.0), "percentile"),
    ],
)
def test_bad_options(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_the_median_pruner_is_the_50th_percentile() -> None:
    assert MedianPruner().percentile == 50.0
    assert NopPruner().on_report(history(MEDIAN_3), TrialRecord(0, TrialState.RUNNING,
                                 intermediate={0: 1e9}), 0, 1e9).prune is False


# ---- Optuna's order of checks, and numpy's percentile to the last bit -------------------------
@pytest.mark.parametrize(
    ("curves", "n_min_trials"),
    [(MEDIAN_3, 6), (flat(1.0, 2.0, steps=1), 1)],  # too few at the step / none reached step 3
)
def test_an_all_nan_trial_is_pruned_before_the_history_is_looked_at(
    curves: list[dict[int, float]], n_min_trials: int
) -> None:
    pruner = MedianPruner(n_startup_trials=0, n_min_trials=n_min_trials)
    assert decide(pruner, history(curves), {3: nan}).prune is True
    assert decide(pruner, history(curves), {3: 100.0}).prune is False


def test_next_step_during_startup_and_warmup_is_the_first_step_that_could_be_checked() -> None:
    pruner = MedianPruner(n_startup_trials=50, n_warmup_steps=3, interval_steps=2)
    assert decide(pruner, history(MEDIAN_3), {0: 100.0}).next_step == 3
    assert decide(pruner, history(MEDIAN_3), {0: 1.0, 3: 100.0}).next_step == 5


finite = st.one_of(st.integers(-3, 3).map(float), st.floats(-1e6, 1e6), st.just(nan))


@settings(max_examples=200, deadline=None)
@given(
    columns=st.lists(st.lists(finite, min_size=1, max_size=4), min_size=1, max_size=40),
    percentile=st.one_of(st.sampled_from([0.0, 10.0, 25.0, 50.0, 75.0, 100.0]), st.floats(0, 100)),
    direction=st.sampled_from(["minimize", "maximize"]),
)
def test_the_cut_is_numpys_nanpercentile_to_the_last_bit(
    columns: list[list[float]], percentile: float, direction: str
) -> None:
    """A trial exactly at the cut goes on; the next float on the wrong side is pruned."""
    view = history([dict(enumerate(c)) for c in columns], direction)
    pruner = PercentilePruner(percentile=percentile, n_startup_trials=0)
    for step in range(4):
        at_step = np.asarray(view.step_values(step), dtype=float)
        if at_step.size == 0 or np.isnan(at_step).all():
            continue
        q = 100.0 - percentile if direction == "maximize" else percentile
        cut = float(np.nanpercentile(at_step, q))
        worse = math.nextafter(cut, math.inf if direction == "minimize" else -math.inf)
        reported = {s: cut for s in range(step)}
        assert decide(pruner, view, {**reported, step: cut}).prune is False
        assert decide(pruner, view, {step: worse}).prune is True


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=scripts(max_steps=12), direction=st.sampled_from(["minimize", "maximize"]),
       options=st.sampled_from([{}, {"n_startup_trials": 1, "n_min_trials": 2},
                                {"n_startup_trials": 2, "n_warmup_steps": 2, "interval_steps": 3}]))
def test_decisions_are_the_same_from_a_fresh_pruner(
    script: Script, direction: str, options: dict[str, int]
) -> None:
    """The per-step columns are only a cache of view.step_values."""
    Player(script, [Run(MedianPruner(**options), direction)],
           expect=lambda run, *report: fresh_decision(MedianPruner(**options), run, *report)).play()
