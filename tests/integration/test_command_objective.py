"""Command objectives with real processes: no shell, streaming reports, prune and timeout kill
the whole process group, failures keep the exit code and the last stderr lines."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

import tunefleet
from tunefleet.core.distributions import CategoricalDistribution, FloatDistribution
from tunefleet.core.trial import FailReason, TrialState
from tunefleet.errors import ConfigError
from tunefleet.worker.command import CommandConfig, CommandObjective, substitute

SPACE = {"x": FloatDistribution(0, 1), "mode": CategoricalDistribution(("a", "b; rm -rf /"))}


def program(tmp_path: Path, body: str, name: str = "prog") -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return str(path)


def run_study(objective: CommandObjective, n: int = 1, pruner: object = None) -> tunefleet.Study:
    study = tunefleet.create_study(space=SPACE, pruner=pruner)
    study.optimize(objective, n_trials=n, catch=(Exception,))
    return study


def test_argv_items_are_never_split_or_shell_parsed(tmp_path: Path) -> None:
    prog = program(tmp_path, """
        import json, os, sys
        print(json.dumps({"argc": len(sys.argv), "mode": sys.argv[2],
                          "env": os.environ["TUNEFLEET_PARAM_MODE"], "score": float(sys.argv[1])}))
    """)
    cfg = CommandConfig(argv=(sys.executable, prog, "{x}", "{mode}"), values=("score",),
                        user_attrs=("argc", "mode", "env"), base=str(tmp_path))
    study = tunefleet.create_study(space=SPACE)
    study.enqueue_trial({"x": 0.25, "mode": "b; rm -rf /"})
    study.optimize(CommandObjective(cfg, SPACE), n_trials=1)
    t = study.trials[0]
    assert t.state == TrialState.COMPLETE and t.value == 0.25
    assert t.user_attrs == {"argc": 3, "mode": "b; rm -rf /", "env": "b; rm -rf /"}
    assert (tmp_path / "trials" / study.study_name / "0").is_dir(), "a working directory per trial"


def test_reports_stream_and_prune_kills_the_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "child-still-alive"
    prog = program(tmp_path, f"""
        import json, subprocess, sys, time
        # a grandchild in the same process group, as a real program's helpers would be
        subprocess.Popen([sys.executable, "-c",
                          "import time, pathlib; time.sleep(3); pathlib.Path({str(marker)!r}).touch()"])
        x = float(sys.argv[1])
        for step in range(50):
            print(json.dumps({{"step": step, "loss": x + 1.0 / (step + 1)}}), flush=True)
            time.sleep(0.02)
        print(json.dumps({{"loss": x}}))
    """)
    cfg = CommandConfig(argv=(sys.executable, prog, "{x}"), values=("loss",), base=str(tmp_path),
                        grace=1.0)
    study = tunefleet.create_study(space=SPACE, pruner=tunefleet.ThresholdPruner(upper=0.5))
    study.enqueue_trial({"x": 0.9, "mode": "a"})
    started = time.monotonic()
    study.optimize(CommandObjective(cfg, SPACE), n_trials=1)
    t = study.trials[0]
    assert t.state == TrialState.PRUNED and t.intermediate_values[0] == pytest.approx(1.9)
    assert time.monotonic() - started < 30
    time.sleep(3.5)  # longer than the grandchild would have lived: it must be dead
    assert not marker.exists(), "the whole process group was ended"


def test_failures_say_why(tmp_path: Path) -> None:
    crash = program(tmp_path, """
        import sys
        print("warming up", file=sys.stderr)
        print("out of memory on device 0", file=sys.stderr)
        sys.exit(3)
    """, "crash")
    quiet = program(tmp_path, "print('nothing useful')\n", "quiet")
    slow = program(tmp_path, "import time\ntime.sleep(60)\n", "slow")
    cases = [
        (CommandConfig(argv=(sys.executable, crash), values=("v",), base=str(tmp_path)),
         FailReason.ERROR, "exited with code 3"),
        (CommandConfig(argv=(sys.executable, quiet), values=("v",), base=str(tmp_path)),
         FailReason.ERROR, "printed no metric 'v'"),
        (CommandConfig(argv=(sys.executable, slow), values=("v",), base=str(tmp_path),
                       timeout=0.5, grace=0.5), FailReason.TIMEOUT, "past its timeout"),
        (CommandConfig(argv=("/no/such/program",), values=("v",), base=str(tmp_path)),
         FailReason.ERROR, "cannot start"),
    ]
    for cfg, reason, text in cases:
        t = run_study(CommandObjective(cfg, SPACE)).trials[0]
        assert t.state == TrialState.FAIL and t.reason == reason, (cfg.argv, t.message)
        assert text in (t.message or "")
    crashed = run_study(CommandObjective(cases[0][0], SPACE)).trials[0]
    assert "out of memory on device 0" in (crashed.message or "")


def test_constraints_come_from_metrics(tmp_path: Path) -> None:
    prog = program(tmp_path, "print('size=10 psnr=41.5 slack=-2')\n")
    cfg = CommandConfig(argv=(sys.executable, prog), values=("size",), parser="keyvalue",
                        constraints=("slack",), base=str(tmp_path))
    t = run_study(CommandObjective(cfg, SPACE)).trials[0]
    assert t.value == 10.0 and t.constraints == (-2.0,)


def test_placeholders_must_name_params() -> None:
    assert substitute("--crf={x}", {"x": 3}) == "--crf=3"
    with pytest.raises(ConfigError, match="not a param"):
        substitute("--crf={nope}", {"x": 3})
    with pytest.raises(ConfigError, match="needs a \\[space\\]"):
        CommandObjective(CommandConfig(argv=("true",), values=("v",)), {})


def test_a_command_study_from_a_spec_runs_with_tunefleet_run(tmp_path: Path) -> None:
    (tmp_path / "score.py").write_text("import sys\nprint(f'value={(float(sys.argv[1]) - 0.3) ** 2}')\n")
    (tmp_path / "cmd.toml").write_text(textwrap.dedent(f"""
        [study]
        name = "cmd"
        n_trials = 6

        [objective]
        command = ["{sys.executable}", "score.py", "{{x}}"]
        workdir = "."
        values = ["value"]
        parser = "keyvalue"

        [space]
        x = {{ type = "float", low = 0, high = 1 }}

        [run]
        workers = 2
    """))
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "tunefleet", "run", "cmd.toml", "-q"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ})
    assert proc.returncode == 0, proc.stderr
    assert "best trial of 'cmd'" in proc.stdout
