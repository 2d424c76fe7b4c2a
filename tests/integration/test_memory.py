"""keep_freed_memory: a process that allocates and frees MB-sized arrays stops paying page
faults for them, and a user's own glibc settings are left alone."""

from __future__ import annotations

import subprocess
import sys

from tunefleet.coordinator.memory import keep_freed_memory

PROBE = """
import resource, sys
import numpy as np
from tunefleet.coordinator.memory import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
a = np.ones(250_000)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    b = a * 2.0  # 2 MB, freed at the next assignment
    c = np.exp(b)
    del b, c
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         check=True, env={"PATH": "/usr/bin:/bin"})
    return int(out.stdout.strip())


def test_freed_arrays_are_reused_instead_of_faulted_in_again() -> None:
    default, kept = _faults("default"), _faults("keep")
    assert default > 50 * 200  # about 500 faults per 2 MB array at glibc's defaults
    assert kept < default / 10


def test_the_users_own_settings_win() -> None:
    assert keep_freed_memory(environ={"MALLOC_MMAP_THRESHOLD_": "131072"}) is False
    assert keep_freed_memory(environ={"MALLOC_TRIM_THRESHOLD_": "0"}) is False
