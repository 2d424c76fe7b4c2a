"""The Python API against a coordinator process over RabbitMQ, and workers told to stop."""

from __future__ import annotations

import signal
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import tunefleet
from tests.integration.fleet import cli_env, load, run_ok, wait_for
from tests.integration.fleet import tunefleet as tf_process
from tunefleet.core.trial import FailReason, TrialState

pytestmark = pytest.mark.broker


@pytest.fixture()
def coordinator(tmp_path: Path, broker_url: str, namespace: str) -> Iterator[Path]:
    journal = tmp_path / "remote.db"
    proc = tf_process("coordinator", "--journal", str(journal), env=cli_env(broker_url, namespace))
    try:
        yield journal
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def objective(trial: tunefleet.Trial) -> float:
    x = trial.suggest_float("x", -3, 3)
    trial.report(x * x, 0)
    return x * x


def test_remote_study_from_python(coordinator: Path, broker_url: str, namespace: str) -> None:
    study = tunefleet.create_study("remote", broker=broker_url, namespace=namespace,
                                   sampler=tunefleet.RandomSampler(seed=7))
    study.enqueue_trial({"x": 0.5})
    study.optimize(objective, n_trials=10)
    study.optimize(objective, n_trials=8, n_workers=2)
    trial = study.ask()
    study.tell(trial, 42.0)
    trials = study.trials
    assert [t.number for t in trials] == list(range(19))
    assert trials[0].params == {"x": 0.5} and trials[0].intermediate_values == {0: 0.25}
    assert study.best_value == min(t.value for t in trials)
    same = tunefleet.load_study("remote", broker=broker_url, namespace=namespace)
    assert same.best_params == study.best_params
    with pytest.raises(tunefleet.StudyExists):
        tunefleet.create_study("remote", broker=broker_url, namespace=namespace)
    again = tunefleet.create_study("remote", broker=broker_url, namespace=namespace,
                                   load_if_exists=True)
    assert len(again.trials) == 19
    for s in (study, same, again):
        s.close()
    journaled = load(coordinator, "remote")
    assert [r.state for r in journaled.trials] == [TrialState.COMPLETE] * 19


def test_sigterm_ends_the_trial_as_preempted_and_it_is_retried(
    tmp_path: Path, coordinator: Path, broker_url: str, namespace: str
) -> None:
    env = cli_env(broker_url, namespace)
    (tmp_path / "slow.py").write_text(textwrap.dedent("""
        import time

        def objective(trial):
            x = trial.suggest_float("x", 0, 1)
            if trial.number == 0:
                time.sleep(600)      # preempted long before this ends
            return x
    """))
    spec = tmp_path / "slow.toml"
    spec.write_text('[study]\nname = "slow"\nn_trials = 3\n[objective]\nfunction = "slow:objective"\n')
    run_ok("study", "create", str(spec), env=env)
    victim = tf_process("worker", "--study", "slow", "--max-trials", "1", env=env)
    # preempted while it sleeps, once it has its x (a retry is to get the same one)
    wait_for(lambda: _sleeping(coordinator, "slow"), 60, "trial 0 to start and suggest x")
    victim.send_signal(signal.SIGTERM)
    assert victim.wait(30) == 0, "a preempted worker exits 0"
    first = load(coordinator, "slow").trial(0)
    assert first.state == TrialState.FAIL and first.reason == FailReason.PREEMPTED
    finisher = subprocess.run(
        [*_tf(), "worker", "--study", "slow"], env=env, capture_output=True, text=True, timeout=120
    )
    assert finisher.returncode == 0, finisher.stderr
    study = load(coordinator, "slow")
    retry = next(r for r in study.trials if r.retry_of == 0)
    assert retry.params == first.params and retry.attempt == 1
    assert sum(r.state == TrialState.COMPLETE for r in study.trials) == 3


def _tf() -> list[str]:
    import sys

    return [sys.executable, "-m", "tunefleet"]


def _sleeping(journal: Path, name: str) -> bool:
    """Trial 0 is RUNNING and has suggested its param."""
    try:
        first = load(journal, name).trial(0)
    except Exception:
        return False
    return first.state == TrialState.RUNNING and "x" in first.params
