"""Slurm: submit a study's worker array with sbatch, and read a job's time left."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tunefleet.errors import ConfigError

SCRIPT = Path(__file__).resolve().parent / "worker.sbatch"
_ARRAY = re.compile(r"^\d+(-\d+)?(:\d+)?(,\d+(-\d+)?)*(%\d+)?$")
_TIME = re.compile(r"^(\d+-)?\d{1,2}(:\d{2}){0,2}$")


@dataclass
class WorkerArray:
    """A worker array for ``study``: what `tunefleet slurm submit` passes to sbatch."""

    study: str
    broker_file: str
    array: str = "0-3"
    time: str = "01:00:00"
    cpus: int = 1
    grace: int = 60
    namespace: str = "tunefleet"
    log_dir: str = "slurm-logs"
    partition: str | None = None
    account: str | None = None
    extra: list[str] = field(default_factory=list)

    def check(self) -> None:
        if not _ARRAY.match(self.array):
            raise ConfigError(f"--array {self.array!r} is not a Slurm array spec such as 0-63%8")
        if not _TIME.match(self.time):
            raise ConfigError(f"--time {self.time!r} is not a Slurm time such as 02:00:00")
        path = Path(self.broker_file)
        if not path.is_file():
            raise ConfigError(f"--broker-file {path} does not exist; put the broker URL in it "
                              "(chmod 600) so that it never appears on a command line")
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"--broker-file {path} is readable by others; chmod 600 it")

    def sbatch_argv(self) -> list[str]:
        """sbatch's command line: options override the script's #SBATCH defaults."""
        self.check()
        env = {
            "TUNEFLEET_STUDY": self.study,
            "TUNEFLEET_BROKER_FILE": str(Path(self.broker_file).resolve()),
            "TUNEFLEET_NAMESPACE": self.namespace,
            "TUNEFLEET_PYTHON": sys.executable,
        }
        for k, v in env.items():
            if "," in v:
                raise ConfigError(f"{k}={v!r}: sbatch --export cannot carry a comma")
        argv = [
            "sbatch", "--parsable",
            f"--job-name=tf-{self.study}",
            f"--array={self.array}",
            f"--time={self.time}",
            f"--cpus-per-task={self.cpus}",
            f"--signal=B:TERM@{self.grace}",
            f"--output={Path(self.log_dir).resolve()}/%x-%A_%a.out",
            "--export=ALL," + ",".join(f"{k}={v}" for k, v in env.items()),
        ]
        if self.partition:
            argv.append(f"--partition={self.partition}")
        if self.account:
            argv.append(f"--account={self.account}")
        return [*argv, *self.extra, str(SCRIPT)]


def submit(spec: WorkerArray) -> str:
    """Submit the worker array; its job id."""
    if shutil.which("sbatch") is None:
        raise ConfigError("sbatch is not on PATH: run this on a Slurm login node")
    argv = spec.sbatch_argv()
    Path(spec.log_dir).mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise ConfigError(f"sbatch refused the job: {proc.stderr.strip()}")
    return proc.stdout.strip().split(";")[0]


def parse_time_left(text: str) -> float | None:
    """Seconds in squeue's %L ("[days-]hours:minutes:seconds"); None for no limit."""
    text = text.strip()
    if not text or text.upper() in ("UNLIMITED", "NOT_SET", "INVALID"):
        return None
    days = 0
    if "-" in text:
        d, text = text.split("-", 1)
        days = int(d)
    parts = [int(x) for x in text.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    h, m, s = parts[-3:]
    return float(days * 86400 + h * 3600 + m * 60 + s)


def job_time_left() -> float | None:
    """Seconds until this Slurm job's time limit, or None outside Slurm / without a limit."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job or shutil.which("squeue") is None:
        return None
    try:
        out = subprocess.run(["squeue", "-h", "-j", job, "-o", "%L"], capture_output=True,
                             text=True, timeout=20).stdout
        return parse_time_left(out.splitlines()[0]) if out.strip() else None
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
