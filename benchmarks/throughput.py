"""Finished trials per second for a trivial objective, in every way tunefleet can run.

    python benchmarks/throughput.py                 # all rows; needs RabbitMQ for the last three
    python benchmarks/throughput.py --trials 2000 --no-broker

Rows: in-process ask/tell (no transport), embedded with 4 worker processes (local
transport), and over RabbitMQ with 1, 4 and 16 worker processes (real coordinator
process, journal with fsync). The rate over RabbitMQ is taken from the journal:
finished trials / (last finish - first start), so process start-up is not counted.
Figures are noisy on a shared machine: read them as orders of magnitude.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tunefleet  # noqa: E402
from tunefleet.coordinator.studies import Studies  # noqa: E402
from tunefleet.journal import read_events  # noqa: E402

OBJECTIVE = "def objective(trial):\n    return trial.suggest_float('x', 0, 1) ** 2\n"


def trivial(trial: tunefleet.Trial) -> float:
    return trial.suggest_float("x", 0, 1) ** 2


def in_process(n: int) -> float:
    study = tunefleet.create_study(sampler=tunefleet.RandomSampler(seed=1))
    t0 = time.perf_counter()
    for _ in range(n):
        trial = study.ask()
        study.tell(trial, trivial(trial))
    return n / (time.perf_counter() - t0)


def embedded(n: int, workers: int, tmp: Path) -> float:
    study = tunefleet.create_study("bench", journal=tmp / f"embedded{workers}.db")
    t0 = time.perf_counter()
    study.optimize(trivial, n_trials=n, n_workers=workers)
    rate = n / (time.perf_counter() - t0)
    study.close()
    return rate


def over_broker(n: int, workers: int, url: str, tmp: Path) -> float:
    ns = f"tfbench.{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "TUNEFLEET_BROKER": url, "TUNEFLEET_NAMESPACE": ns}
    (tmp / "bench_obj.py").write_text(OBJECTIVE)
    spec = tmp / f"bench{workers}.toml"
    spec.write_text(f'[study]\nname = "bench"\nn_trials = {n}\n'
                    '[objective]\nfunction = "bench_obj:objective"\n')
    journal = tmp / f"broker{workers}.db"
    tf = [sys.executable, "-m", "tunefleet"]
    coord = subprocess.Popen([*tf, "coordinator", "--journal", str(journal)], env=env)
    try:
        subprocess.run([*tf, "study", "create", str(spec)], env=env, check=True,
                       capture_output=True)
        procs = [subprocess.Popen([*tf, "worker", "--study", "bench"], env=env)
                 for _ in range(workers)]
        for p in procs:
            p.wait()
    finally:
        coord.terminate()
        coord.wait()
        from tunefleet.transport.amqp import purge
        from tunefleet.transport.topology import Topology

        purge(url, Topology(ns))
    studies = Studies()
    for e in read_events(journal):
        studies.apply(e)
    trials = studies.get("bench").trials
    start = min(r.started_at for r in trials if r.started_at)
    end = max(r.finished_at for r in trials if r.finished_at)
    return len(trials) / (end - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--broker", default=os.environ.get(
        "TUNEFLEET_TEST_BROKER", "amqp://guest:guest@127.0.0.1:5672/%2F"))
    ap.add_argument("--no-broker", action="store_true")
    args = ap.parse_args()
    n = args.trials
    rows: list[tuple[str, int, float]] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rows.append(("in-process ask/tell (memory)", 1, in_process(n)))
        rows.append(("embedded, local transport", 4, embedded(n, 4, tmp)))
        if not args.no_broker:
            for w in (1, 4, 16):
                rows.append(("RabbitMQ, coordinator process", w, over_broker(n, w, args.broker, tmp)))
    print(f"\nthroughput, trivial objective, RandomSampler, {n} trials, {os.cpu_count()} cores")
    print(f"{'mode':<34} {'workers':>7} {'trials/s':>10}")
    for mode, w, rate in rows:
        print(f"{mode:<34} {w:>7} {rate:>10.0f}")


if __name__ == "__main__":
    main()
