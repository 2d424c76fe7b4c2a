"""The command-objective examples (examples/ffmpeg, rocksdb, hpl) run for real, on a small budget.

Each example's study.toml and trial.py are copied to tmp_path (their trials then land
there, not in the repository) and run with `tunefleet run -n N`; the journal must then
hold complete trials with sane values. The programs come from Debian packages: a missing
one fails the test when CI=true (install them with scripts/install-example-tools.sh) and
skips it otherwise.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.fleet import load
from tunefleet.core.study import Study
from tunefleet.core.trial import TrialState

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
INSTALL = "scripts/install-example-tools.sh"


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed: run `bash {INSTALL}` (as root)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def run_example(name: str, tmp_path: Path, *args: str) -> tuple[Study, Path]:
    """Run examples/NAME in a copy under tmp_path; the study and the copy's folder."""
    folder = tmp_path / name
    folder.mkdir()
    for file in ("study.toml", "trial.py"):
        shutil.copy(ROOT / "examples" / name / file, folder / file)
    journal = tmp_path / "journal.db"
    proc = subprocess.run(
        [sys.executable, "-m", "tunefleet", "run", "study.toml", "-q", "--journal", str(journal), *args],
        cwd=folder, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    from tunefleet.spec import load_spec

    study = load(journal, load_spec(folder / "study.toml").name)
    failed = [(r.number, r.message) for r in study.trials if r.state != TrialState.COMPLETE]
    assert not failed, failed
    return study, folder / "trials" / study.name


def test_ffmpeg_example_gives_size_and_psnr(tmp_path: Path) -> None:
    need("ffmpeg")
    study, trials = run_example("ffmpeg", tmp_path, "-n", "4", "-w", "2")
    assert len(study.trials) == 4
    for r in study.trials:
        assert r.values is not None and len(r.values) == 2
        size, psnr = r.values
        assert size == int(size) and 1_000 < size < 10_000_000, r
        assert 20.0 < psnr < 80.0, r
        assert 0.5 < r.user_attrs["ssim"] <= 1.0
        assert r.user_attrs["kbps"] == pytest.approx(size * 8 / 1000 / 2, rel=0.01)
    assert (trials / "source.y4m").stat().st_size > 1_000_000, "the clip is made once, shared"
    assert not list(trials.glob("*/out.mp4")), "encodes are deleted after scoring"


def test_ffmpeg_trial_is_deterministic(tmp_path: Path) -> None:
    need("ffmpeg")
    trial = ROOT / "examples" / "ffmpeg" / "trial.py"
    argv = [sys.executable, str(trial), "--crf", "30", "--preset", "veryfast", "--tune", "psnr",
            "--seconds", "1"]
    lines = []
    for _ in range(2):
        proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        lines.append(proc.stdout.split(" encode_s=")[0])
    assert lines[0] == lines[1] and lines[0].startswith("bytes=")


def test_rocksdb_example_reports_intermediate_values(tmp_path: Path) -> None:
    need("db_bench")
    study, trials = run_example("rocksdb", tmp_path, "-n", "3", "-w", "2")
    assert len(study.trials) == 3
    for r in study.trials:
        assert r.values is not None and len(r.values) == 1
        assert 100 < r.values[0] < 1e8, r
        assert r.intermediate, f"trial {r.number}: no db_bench stats reached the parser"
        assert min(r.intermediate) >= 1
        assert all(v > 0 and math.isfinite(v) for v in r.intermediate.values())
        assert r.user_attrs["updaterandom_micros_op"] > 0
        assert not (trials / str(r.number) / "db").exists(), "the database is deleted"


def test_hpl_example_gives_gflops(tmp_path: Path) -> None:
    need("hpcc", "mpirun")
    study, trials = run_example("hpl", tmp_path, "-n", "1", "-w", "1")
    [r] = study.trials
    assert r.values is not None and 0.01 < r.values[0] < 1e5, r
    assert 0 < r.user_attrs["hpl_seconds"] < 100
    out = (trials / "0" / "hpccoutf.txt").read_text()
    row = next(line.split() for line in out.splitlines() if line.startswith("WR"))
    p, q = (int(x) for x in str(r.params["grid"]).split("x"))
    assert [int(x) for x in row[1:5]] == [r.params["n"], r.params["nb"], p, q]
    assert float(row[6]) == pytest.approx(r.values[0], rel=1e-3)  # the parser reads HPL_Tflops too


def test_hpl_trial_runs_one_rank_per_grid_cell(tmp_path: Path) -> None:
    need("hpcc", "mpirun")
    trial = ROOT / "examples" / "hpl" / "trial.py"
    proc = subprocess.run([sys.executable, str(trial), "--n", "400", "--nb", "32", "--grid", "1x2"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "grid=1x2 ranks=2" in proc.stdout
    out = (tmp_path / "hpccoutf.txt").read_text()
    assert "CommWorldProcs=2" in out
    row = next(line.split() for line in out.splitlines() if line.startswith("WR"))
    assert row[1:5] == ["400", "32", "1", "2"]
