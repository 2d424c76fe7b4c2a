"""Helpers to run a real fleet in tests: coordinator and worker processes via the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from tunefleet.coordinator.studies import Studies
from tunefleet.core.study import Study
from tunefleet.journal import read_events

OBJECTIVE = '''
import random, time

def objective(trial):
    x = trial.suggest_float("x", -5, 5)
    y = trial.suggest_int("y", 0, 10)
    time.sleep(random.random() * {sleep})
    return (x - 1) ** 2 + y
'''


def write_study(tmp: Path, name: str, n_trials: int, *, sleep: float = 0.0,
                lease: float = 60.0, extra: str = "") -> Path:
    (tmp / f"obj_{name}.py").write_text(OBJECTIVE.format(sleep=sleep))
    spec = tmp / f"{name}.toml"
    spec.write_text(textwrap.dedent(f"""
        [study]
        name = "{name}"
        n_trials = {n_trials}
        lease_seconds = {lease}
        {extra}

        [objective]
        function = "obj_{name}:objective"
    """))
    return spec


def cli_env(broker_url: str, namespace: str) -> dict[str, str]:
    env = dict(os.environ)
    env["TUNEFLEET_BROKER"] = broker_url  # never in argv
    env["TUNEFLEET_NAMESPACE"] = namespace
    return env


def tunefleet(*args: str, env: dict[str, str], **kw: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tunefleet", *args], env=env, **kw)  # type: ignore[call-overload]


def run_ok(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "tunefleet", *args], env=env, timeout=timeout,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc


def load(journal: Path, name: str) -> Study:
    studies = Studies()
    for event in read_events(journal):
        studies.apply(event)
    return studies.get(name)


def wait_for(cond: Callable[[], bool], timeout: float, what: str, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def finished(journal: Path, name: str) -> int:
    try:
        study = load(journal, name)
    except Exception:
        return 0
    return sum(r.state.is_finished() for r in study.trials)
