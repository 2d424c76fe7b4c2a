"""glibc malloc settings for a process that runs samplers: keep freed memory for reuse.

An ask at 10,000 trials works on temporary arrays of one to a few MB. glibc at its
defaults maps every block over 128 KiB straight from the kernel and unmaps it when it is
freed, and gives the top of its heap back past 128 KiB free, so each ask met its arrays
in fresh pages: about a thousand page faults, half of TPE's time per ask
(benchmarks/README.md). Raising the two thresholds lets the process reuse those pages.
The cost is memory kept after a peak: at most ``trim_threshold`` of freed heap.

glibc reads the same settings from ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_``; a user who sets either keeps their own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Mapping

M_TRIM_THRESHOLD = -1  # <malloc.h>
M_MMAP_THRESHOLD = -3
MIB = 1 << 20
ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory(
    *,
    mmap_threshold: int = 32 * MIB,  # glibc's ceiling for this setting on 64-bit
    trim_threshold: int = 64 * MIB,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Set the two thresholds for this process; True if they were set. Does nothing off
    Linux, without glibc's ``mallopt``, or when the environment sets either one."""
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux") or any(k in env for k in ENV):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1
    return bool(ok and mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1)
