"""Run RocksDB's db_bench on a fresh database in ./db, then delete the database.

    python3 trial.py --benchmarks=updaterandom --duration=4 --write_buffer_size=8388608 ...

Every argument goes to db_bench unchanged; this script only adds ``--db=./db`` and
removes that directory afterwards, also when the trial is pruned (SIGTERM), so that
a study does not leave gigabytes of databases behind (``--keep-db`` keeps it).
db_bench writes to this script's own stdout and stderr: its result line
(``updaterandom : 9.6 micros/op 104196 ops/sec ...``) and, with
``--stats_interval_seconds=1``, one stats line a second on stderr, which the
``db_bench`` parser turns into intermediate values.

Needs db_bench (Debian's ``rocksdb-tools`` package).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType


def main() -> int:
    args = sys.argv[1:]
    keep = "--keep-db" in args
    args = [a for a in args if a != "--keep-db"]
    db = Path("db").resolve()
    shutil.rmtree(db, ignore_errors=True)
    try:
        proc = subprocess.Popen(["db_bench", f"--db={db}", *args], stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        print("trial.py: db_bench not found; install rocksdb-tools "
              "(scripts/install-example-tools.sh)", file=sys.stderr)
        return 127

    def stop(signum: int, frame: FrameType | None) -> None:
        # Pruned or timed out: the worker signals our whole process group, db_bench too;
        # pass it on anyway (in case only this script was signalled), then clean up below.
        if proc.poll() is None:
            proc.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        code = proc.wait()
    finally:
        if not keep:
            shutil.rmtree(db, ignore_errors=True)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
