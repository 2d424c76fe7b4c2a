"""QMCSampler: trial i takes point i of scipy's sequence, whoever asks and in what order."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import qmc

from tests.unit.samplers.studies import Run, Trial
from tunefleet.core.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from tunefleet.core.trial import TrialRecord, TrialState
from tunefleet.errors import ConfigError
from tunefleet.samplers import QMCSampler, RandomSampler, make_sampler
from tunefleet.samplers.base import uniform_in

UNIT = {f"x{i}": FloatDistribution(0.0, 1.0) for i in range(5)}


def unit_objective(t: Trial) -> float:
    return sum(t.suggest(k, d) for k, d in UNIT.items())


def sequence(kind: str, d: int, n: int, scramble: bool = False, seed: int = 0) -> np.ndarray:
    engine = (qmc.Sobol if kind == "sobol" else qmc.Halton)(
        d, scramble=scramble, rng=np.random.default_rng(seed))
    return engine.random(n)


@pytest.mark.parametrize(("kind", "scramble"), [("sobol", False), ("sobol", True),
                                                 ("halton", False), ("halton", True)])
def test_a_static_space_takes_the_sequence_point_by_trial_number(kind: str, scramble: bool) -> None:
    run = Run(QMCSampler(qmc_type=kind, scramble=scramble, seed=11), space=UNIT)
    run.optimize(unit_objective, 32)
    want = sequence(kind, 5, 32, scramble, 11)
    got = np.array([[r.params[k] for k in sorted(UNIT)] for r in run.study.trials])
    assert np.array_equal(got, want)
    assert run.round_trips == 0


def test_define_by_run_samples_the_first_trial_at_random_then_follows_the_sequence() -> None:
    run = Run(QMCSampler(seed=3))
    run.optimize(unit_objective, 16)
    first = run.study.trials[0].params
    record = TrialRecord(0, TrialState.RUNNING)
    assert first == {k: RandomSampler(seed=3).sample_independent(run.study.view, record, k, d)
                     for k, d in UNIT.items()}
    want = sequence("sobol", 5, 16)
    for r in run.study.trials[1:]:
        assert [r.params[k] for k in sorted(UNIT)] == list(want[r.number])
    assert run.round_trips == 5  # only the first trial's params


def test_simultaneous_asks_get_distinct_points_of_the_sequence() -> None:
    run = Run(QMCSampler(), space=UNIT)
    trials = run.batch(unit_objective, 16)
    pts = [tuple(t.params[k] for k in sorted(UNIT)) for t in trials]
    assert len(set(pts)) == 16
    assert np.array_equal(np.array(pts), sequence("sobol", 5, 16))


def test_points_are_mapped_onto_every_kind_of_distribution() -> None:
    space = {
        "a_log": FloatDistribution(1e-3, 1e3, log=True),
        "b_step": FloatDistribution(0.0, 1.0, step=0.25),
        "c_int": IntDistribution(-3, 9, step=3),
        "d_intlog": IntDistribution(1, 1024, log=True),
        "e_cat": CategoricalDistribution(("r", "g", "b", None)),
    }
    run = Run(QMCSampler(qmc_type="halton"), space=space)
    run.optimize(lambda t: 0.0 if all(t.suggest(k, d) is not False for k, d in space.items()) else 1.0, 64)
    want = sequence("halton", 5, 64)
    for r in run.study.trials:
        assert r.params == {k: uniform_in(space[k], u) for k, u in zip(sorted(space), want[r.number],
                                                                       strict=True)}
    choices = {r.params["e_cat"] for r in run.study.trials}
    assert choices == {"r", "g", "b", None}


def test_the_space_is_the_first_finished_trials() -> None:
    sampler = QMCSampler()
    run = Run(sampler)
    x, y = FloatDistribution(0.0, 1.0), FloatDistribution(0.0, 2.0)
    early = run.ask()
    early.suggest("x", x)  # RUNNING: before any trial finishes, the space is the running ones'
    record = TrialRecord(9, TrialState.RUNNING)
    assert sampler.infer_relative_search_space(run.study.view, record) == {"x": x}
    late = run.ask()
    late.suggest("y", y)
    run.tell(late, 1.0)  # the only finished trial
    assert sampler.infer_relative_search_space(run.study.view, record) == {"y": y}
    run.tell(early, 1.0)  # the lowest-numbered finished trial decides, as in Optuna
    assert sampler.infer_relative_search_space(run.study.view, record) == {"x": x}


def test_unknown_sequences_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="qmc_type must be one of sobol, halton, got 'lattice'"):
        make_sampler("qmc", {"qmc_type": "lattice"})
