"""Reading results from a program's output as it streams: JSON lines, regexes, ready-made parsers.

A parser sees each line of stdout and stderr once (never the whole output again)
and keeps the latest ``metrics`` (name -> float); a line may also yield an
intermediate ``(step, value)`` for pruning. Ready-made parsers know the three
example programs: HPL (through hpcc), RocksDB's db_bench and FFmpeg.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Step = tuple[int, float]


def _number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if not math.isnan(v) else None


class Parser:
    """Collects metrics from lines; the base reads nothing."""

    def __init__(self) -> None:
        self.metrics: dict[str, Any] = {}

    def feed(self, stream: str, line: str) -> Iterator[Step]:
        """Take one line of ``stream`` ("stdout" or "stderr"); yield intermediate values."""
        return iter(())

    def finish(self, workdir: Path) -> None:
        """After the program exited: read result files, if any."""


class JsonLines(Parser):
    """The last JSON object printed on stdout holds the metrics; objects with a ``step``
    key (and an ``intermediate`` key naming the value, default the first objective) are
    intermediate values."""

    def __init__(self, value_key: str | None = None) -> None:
        super().__init__()
        self.value_key = value_key

    def feed(self, stream: str, line: str) -> Iterator[Step]:
        text = line.strip()
        if stream != "stdout" or not text.startswith("{"):
            return
        try:
            obj = json.loads(text)
        except ValueError:
            return
        if not isinstance(obj, dict):
            return
        if "step" in obj and isinstance(obj["step"], int):
            key = obj.get("intermediate_key") or self.value_key
            value = obj.get(key) if key else obj.get("value")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                yield obj["step"], float(value)
            return
        self.metrics = obj


class Regex(Parser):
    """Each match of ``pattern`` (named groups) updates the metrics; matches of
    ``step_pattern`` (groups ``step`` and ``value``) are intermediate values."""

    def __init__(self, pattern: str | None, step_pattern: str | None = None,
                 stream: str = "stdout") -> None:
        super().__init__()
        self.pattern = re.compile(pattern) if pattern else None
        self.step_pattern = re.compile(step_pattern) if step_pattern else None
        self.stream = stream

    def feed(self, stream: str, line: str) -> Iterator[Step]:
        if stream != self.stream and self.stream != "both":
            return
        if self.pattern is not None:
            for m in self.pattern.finditer(line):
                for k, v in m.groupdict().items():
                    if v is not None:
                        num = _number(v)
                        self.metrics[k] = num if num is not None else v
        if self.step_pattern is not None:
            found = self.step_pattern.search(line)
            if found:
                value = _number(found.group("value"))
                if value is not None:
                    yield int(float(found.group("step"))), value


class KeyValues(Parser):
    """``name=value`` pairs on stdout (as printed by the example trial scripts)."""

    _PAIR = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)")

    def feed(self, stream: str, line: str) -> Iterator[Step]:
        if stream == "stdout":
            for k, v in self._PAIR.findall(line):
                num = _number(v)
                self.metrics[k] = num if num is not None else v
        return iter(())


class ResultFile(Parser):
    """A JSON file the program writes into its working directory."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def finish(self, workdir: Path) -> None:
        path = workdir / self.name
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        if isinstance(data, dict):
            self.metrics = data


class HplParser(Parser):
    """hpcc/HPL: ``WR..  N  NB  P  Q  time  gflops`` rows and ``HPL_Tflops=`` in hpccoutf.txt
    (hpcc writes there, not to stdout). Metrics: ``gflops`` (the best row), ``hpl_seconds``."""

    _ROW = re.compile(r"^W[RC]\S+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([0-9.eE+-]+)\s+([0-9.eE+-]+)")

    def _line(self, line: str) -> None:
        m = self._ROW.match(line.strip())
        if m:
            gflops = _number(m.group(6))
            if gflops is not None and gflops >= self.metrics.get("gflops", -1.0):
                self.metrics["gflops"] = gflops
                self.metrics["hpl_seconds"] = _number(m.group(5))
        elif line.startswith("HPL_Tflops="):
            tflops = _number(line.split("=", 1)[1])
            if tflops is not None:
                self.metrics["gflops"] = max(self.metrics.get("gflops", 0.0), tflops * 1000.0)

    def feed(self, stream: str, line: str) -> Iterator[Step]:
        self._line(line)
        return iter(())

    def finish(self, workdir: Path) -> None:
        out = workdir / "hpccoutf.txt"
        if out.exists():
            with out.open(errors="replace") as fh:
                for line in fh:
                    self._line(line)


class DbBenchParser(Parser):
    """db_bench: ``fillrandom : 6.888 micros/op 145152 ops/sec ...`` gives
    ``fillrandom_ops_s`` and ``fillrandom_micros_op``; the periodic stats on stderr
    (``--stats_interval_seconds=1``: ``... (interval,cumulative) ops/second in
    (interval,cumulative) seconds``) give intermediate values: interval ops/s at the
    cumulative second as the step."""

    _RESULT = re.compile(r"^(\w+)\s*:\s*([0-9.]+) micros/op\s+([0-9.]+) ops/sec")
    _STATS = re.compile(
        r"\(([0-9.]+),([0-9.]+)\) ops/second in \(([0-9.]+),([0-9.]+)\) seconds"
    )

    def feed(self, stream: str, line: str) -> Iterator[Step]:
        for part in line.split("\r"):
            m = self._RESULT.match(part.strip())
            if m:
                name = m.group(1)
                self.metrics[f"{name}_micros_op"] = float(m.group(2))
                self.metrics[f"{name}_ops_s"] = float(m.group(3))
                continue
            s = self._STATS.search(part)
            if s:
                yield int(round(float(s.group(4)))), float(s.group(1))


class FfmpegParser(Parser):
    """FFmpeg's psnr/ssim filters on stderr: ``PSNR ... average:44.19`` -> ``psnr``,
    ``SSIM ... All:0.995`` -> ``ssim``; ``bytes=N`` / ``size=N`` pairs on stdout -> ``bytes``."""

    _PSNR = re.compile(r"PSNR .*average:([0-9.]+|inf)")
    _SSIM = re.compile(r"SSIM .*All:([0-9.]+)")
    _BYTES = re.compile(r"\b(?:bytes|size)=(\d+)\b")

    def feed(self, stream: str, line: str) -> Iterator[Step]:
        m = self._PSNR.search(line)
        if m:
            self.metrics["psnr"] = float(m.group(1))
        m = self._SSIM.search(line)
        if m:
            self.metrics["ssim"] = float(m.group(1))
        m = self._BYTES.search(line)
        if m and stream == "stdout":
            self.metrics["bytes"] = float(m.group(1))
        return iter(())


READY_MADE: dict[str, type[Parser]] = {
    "hpl": HplParser,
    "db_bench": DbBenchParser,
    "ffmpeg": FfmpegParser,
    "keyvalue": KeyValues,
}
