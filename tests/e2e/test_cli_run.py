"""The command line as a newcomer uses it: `tunefleet run` (embedded), status, best, errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration.fleet import load
from tunefleet.core.trial import FailReason, TrialState

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def tf(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tunefleet", *args], cwd=cwd, timeout=timeout,
                          capture_output=True, text=True)


@pytest.fixture()
def quickstart(tmp_path: Path) -> Path:
    for name in ("quickstart.toml", "quickstart.py"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    return tmp_path


def test_quickstart_runs_and_leaves_a_journal(quickstart: Path) -> None:
    proc = tf("run", "quickstart.toml", cwd=quickstart)
    assert proc.returncode == 0, proc.stderr
    assert "best trial of 'quickstart'" in proc.stdout
    assert "4 local workers" in proc.stderr
    study = load(quickstart / "tunefleet.db", "quickstart")
    assert [r.number for r in study.trials] == list(range(100))
    assert all(r.state == TrialState.COMPLETE for r in study.trials)
    assert all(len(r.intermediate) == 100 for r in study.trials), "every step was reported"
    assert len({r.worker for r in study.trials}) > 1

    best = tf("best", "quickstart", cwd=quickstart)
    assert best.returncode == 0 and "activation" in best.stdout
    status = tf("status", "quickstart", "--limit", "3", cwd=quickstart)
    assert status.returncode == 0, status.stderr
    assert "100 trials (100 COMPLETE)" in status.stdout.replace("\n", " ")
    for column in ("trial", "state", "worker", "width", "height", "activation", "last step",
                   "duration"):
        assert column in status.stdout

    again = tf("run", "quickstart.toml", "-n", "7", "-q", cwd=quickstart)
    assert again.returncode == 0, again.stderr
    assert len(load(quickstart / "tunefleet.db", "quickstart").trials) == 107


def test_a_worker_that_dies_loses_only_its_trial(tmp_path: Path) -> None:
    (tmp_path / "dying.py").write_text(textwrap.dedent("""
        import os

        def objective(trial):
            x = trial.suggest_float("x", 0, 1)
            if trial.number == 3:
                os._exit(17)        # the whole worker process dies mid-trial
            return x
    """))
    (tmp_path / "dying.toml").write_text(textwrap.dedent("""
        [study]
        name = "dying"
        n_trials = 12
        lease_seconds = 1.5

        [objective]
        function = "dying:objective"

        [run]
        workers = 2
    """))
    proc = tf("run", "dying.toml", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    study = load(tmp_path / "tunefleet.db", "dying")
    lost = study.trial(3)
    assert lost.state == TrialState.FAIL and lost.reason == FailReason.LOST
    retry = next(r for r in study.trials if r.retry_of == 3)
    assert retry.state == TrialState.COMPLETE and retry.attempt == 1
    assert retry.params == lost.params
    assert sum(r.state == TrialState.COMPLETE for r in study.trials) == 12


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[study]\nname = 'x'\nn_trials = 'ten'\n[objective]\nfunction = 'a:b'\n",
         "[study].n_trials"),
        ("[study]\nname = 'x'\nsampler = 'randm'\n[objective]\nfunction = 'a:b'\n",
         "did you mean 'random'"),
        ("[study]\nname = 'x'\n[objective]\nfunction = 'a:b'\ncolour = 1\n",
         "[objective].colour is not a known key"),
        ("[study]\nname = 'x'\n", "[objective] is required"),
        ("[study\n", "is not valid TOML"),
    ],
)
def test_bad_spec_names_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "bad.toml").write_text(text)
    proc = tf("run", "bad.toml", cwd=tmp_path)
    assert proc.returncode == 2
    assert "bad.toml" in proc.stderr and expected in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_things_are_clear(tmp_path: Path) -> None:
    proc = tf("status", "nothing", cwd=tmp_path)
    assert proc.returncode == 1 and "no journal at tunefleet.db" in proc.stderr
    proc = tf("run", "missing.toml", cwd=tmp_path)
    assert proc.returncode == 2 and "missing.toml" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_objective_that_cannot_be_imported(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(
        "[study]\nname = 's'\nn_trials = 3\n[objective]\nfunction = 'nowhere:objective'\n"
        "[run]\nworkers = 1\n"
    )
    proc = tf("run", "s.toml", "-q", cwd=tmp_path)
    assert proc.returncode == 1
    assert "cannot import the objective's module 'nowhere'" in proc.stderr
    assert "every worker exited" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "command",
    [[], ["run"], ["coordinator"], ["worker"], ["study", "create"], ["status"], ["best"]],
)
def test_help_explains_each_command(tmp_path: Path, command: list[str]) -> None:
    proc = tf(*command, "--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "Usage: " in proc.stdout and len(proc.stdout.splitlines()) > 5


def test_gpus_and_cpus_are_shared_out_between_workers(tmp_path: Path) -> None:
    (tmp_path / "devices.py").write_text(textwrap.dedent("""
        import os, time

        def objective(trial):
            trial.suggest_float("x", 0, 1)
            time.sleep(0.25)  # long enough that both workers get trials
            trial.set_user_attr("gpu", os.environ.get("CUDA_VISIBLE_DEVICES"))
            trial.set_user_attr("cpus", sorted(os.sched_getaffinity(0)))
            return 0.0
    """))
    (tmp_path / "devices.toml").write_text(
        "[study]\nname = 'dev'\nn_trials = 12\n[objective]\nfunction = 'devices:objective'\n"
    )
    proc = tf("run", "devices.toml", "-q", "-w", "2", "--gpus", "3,5", "--pin-cpus", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    study = load(tmp_path / "tunefleet.db", "dev")
    by_worker: dict[str, set[str]] = {}
    for r in study.trials:
        by_worker.setdefault(r.worker or "", set()).add(r.user_attrs["gpu"])
        assert len(r.user_attrs["cpus"]) == 1
    assert sorted(g for gs in by_worker.values() for g in gs) == ["3", "5"]
    assert all(len(gs) == 1 for gs in by_worker.values()), "one GPU per worker"
