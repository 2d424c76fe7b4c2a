"""A real Slurm (scripts/setup-slurm.sh): an sbatch array of workers finishes a study, and an
array task cancelled mid-trial loses nothing: its trial is retried and finished elsewhere."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration.fleet import cli_env, load, run_ok, tunefleet, wait_for
from tunefleet.core.trial import FailReason, TrialState
from tunefleet.launch.slurm import parse_time_left

pytestmark = pytest.mark.broker


@pytest.fixture()
def slurm() -> None:
    missing = [t for t in ("sbatch", "squeue", "scancel") if shutil.which(t) is None]
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True) if not missing else None
    if missing or ping is None or "UP" not in ping.stdout:
        message = "no Slurm here: run `bash scripts/setup-slurm.sh` (as root) first"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _squeue(job: str) -> list[str]:
    out = subprocess.run(["squeue", "-h", "-j", job, "-o", "%i %T"], capture_output=True,
                         text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def test_an_array_finishes_the_study_through_a_cancelled_task(
    slurm: None, tmp_path: Path, broker_url: str, namespace: str
) -> None:
    env = cli_env(broker_url, namespace)
    broker_file = tmp_path / "broker"
    broker_file.write_text(broker_url)
    broker_file.chmod(0o600)
    (tmp_path / "slowobj.py").write_text(textwrap.dedent("""
        import time

        def objective(trial):
            x = trial.suggest_float("x", 0, 1)
            time.sleep(1.5)
            return x
    """))
    spec = tmp_path / "slurmy.toml"
    spec.write_text(textwrap.dedent("""
        [study]
        name = "slurmy"
        n_trials = 10
        lease_seconds = 8

        [objective]
        function = "slowobj:objective"
    """))
    journal = tmp_path / "fleet.db"
    coord = tunefleet("coordinator", "--journal", str(journal), env=env)
    job = ""
    try:
        out = run_ok("slurm", "submit", str(spec), "--array", "0-2", "--time", "00:10:00",
                     "--broker-file", str(broker_file), "--log-dir", str(tmp_path / "logs"),
                     env=env).stdout
        job = out.split()[3]
        assert job.isdigit(), out

        def task1_running() -> bool:
            try:
                study = load(journal, "slurmy")
            except Exception:
                return False
            return any(r.state == TrialState.RUNNING and (r.worker or "").endswith(f"/slurm{job}_1")
                       for r in study.trials)

        wait_for(task1_running, 120, "array task 1 to be running a trial")
        victim = next(r.number for r in load(journal, "slurmy").trials
                      if r.state == TrialState.RUNNING and (r.worker or "").endswith(f"/slurm{job}_1"))
        subprocess.run(["scancel", f"{job}_1"], check=True)
        wait_for(lambda: not _squeue(job), 180, "the array to finish")
    finally:
        if job:
            subprocess.run(["scancel", job], capture_output=True)
        coord.send_signal(signal.SIGTERM)
        coord.wait(20)

    study = load(journal, "slurmy")
    lost = study.trial(victim)
    assert lost.state == TrialState.FAIL
    assert lost.reason in (FailReason.PREEMPTED, FailReason.LOST)
    retry = next(r for r in study.trials if r.retry_of == victim)
    assert retry.state == TrialState.COMPLETE and retry.params == lost.params
    assert not (retry.worker or "").endswith(f"/slurm{job}_1"), "finished elsewhere"
    assert sum(r.state == TrialState.COMPLETE for r in study.trials) == 10
    assert all(r.state != TrialState.RUNNING for r in study.trials)
    logs = "".join(p.read_text() for p in (tmp_path / "logs").glob("*.out"))
    assert broker_url.split("@")[0] not in logs, "no credentials in the job logs"


def test_submit_refuses_a_broker_file_others_can_read(tmp_path: Path) -> None:
    broker_file = tmp_path / "broker"
    broker_file.write_text("amqp://u:p@h/")
    broker_file.chmod(0o644)
    spec = tmp_path / "s.toml"
    spec.write_text('[study]\nname = "s"\n[objective]\nfunction = "m:f"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "tunefleet", "slurm", "submit", str(spec),
         "--broker-file", str(broker_file), "--dry-run"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2 and "chmod 600" in proc.stderr


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1:58:12", 7092.0), ("2-00:00:10", 172810.0), ("05:07", 307.0), ("UNLIMITED", None),
     ("INVALID", None), ("", None)],
)
def test_time_left_as_squeue_prints_it(text: str, seconds: float | None) -> None:
    assert parse_time_left(text) == seconds
