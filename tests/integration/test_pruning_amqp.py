"""ASHA over RabbitMQ: 4 workers, 60 trials of 27 steps; every value kept, few reports sent."""

from __future__ import annotations

import signal
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.integration.fleet import cli_env, load, run_ok, tunefleet
from tests.unit.pruners.reference import ReferenceASHA
from tunefleet.core import events as ev
from tunefleet.core.trial import TrialState
from tunefleet.journal import read_events

pytestmark = pytest.mark.broker

STEPS = 27
OBJECTIVE = textwrap.dedent(f"""
    import math

    def objective(trial):
        rate = trial.suggest_float("rate", 0.01, 1.0, log=True)
        floor = trial.suggest_float("floor", 0.0, 1.0)
        loss = 1.0
        for step in range({STEPS}):
            loss = floor + math.exp(-rate * (step + 1))
            trial.report(loss, step)
            if trial.should_prune():
                raise __import__("tunefleet").TrialPruned()
        return loss
""")


def test_asha_over_the_fleet(tmp_path: Path, broker_url: str, namespace: str) -> None:
    env = cli_env(broker_url, namespace)
    (tmp_path / "curve.py").write_text(OBJECTIVE)
    spec = tmp_path / "asha.toml"
    spec.write_text(textwrap.dedent("""
        [study]
        name = "asha"
        n_trials = 60
        sampler = { name = "random", seed = 5 }
        pruner = { name = "successive_halving", min_resource = 1, reduction_factor = 3 }

        [objective]
        function = "curve:objective"
    """))
    journal = tmp_path / "asha.db"
    coord = tunefleet("coordinator", "--journal", str(journal), env=env)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        run_ok("study", "create", str(spec), env=env)
        workers = [tunefleet("worker", "--study", "asha", env=env) for _ in range(4)]
        for w in workers:
            assert w.wait(120) == 0
    finally:
        for p in [*workers, coord]:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            p.wait(20)

    study = load(journal, "asha")
    assert len(study.trials) == 60
    pruned = [r for r in study.trials if r.state == TrialState.PRUNED]
    complete = [r for r in study.trials if r.state == TrialState.COMPLETE]
    assert pruned and complete and len(pruned) + len(complete) == 60
    for r in complete:
        assert sorted(r.intermediate) == list(range(STEPS)), "every value is in the journal"
    for r in pruned:
        last = max(r.intermediate)
        assert sorted(r.intermediate) == list(range(last + 1))
        assert r.values == (r.intermediate[last],), "a pruned trial keeps its last value"

    reports = [e for e in read_events(journal) if isinstance(e, ev.IntermediateReported)]
    assert len(reports) <= 60 * 5, f"{len(reports)} report messages for 60 x {STEPS} values"

    # Each journaled decision is what Algorithm 1 decides on the same reports, in order.
    reference = ReferenceASHA(min_resource=1, eta=3)
    for e in reports:
        step = max(e.values)
        assert reference.prune(e.number, step, e.values[step]) == e.prune, (e.number, step)
