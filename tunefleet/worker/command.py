"""Command objectives: run an external program per trial, never through a shell.

    [objective]
    command = ["db_bench", "--benchmarks=fillrandom", "--write_buffer_size={wbs}"]
    values = ["fillrandom_ops_s"]          # metric names, one per objective
    parser = "db_bench"                     # json | regex | keyvalue | file | hpl | db_bench | ffmpeg
    timeout = 600

``{param}`` placeholders (and ``{trial}``, ``{study}``, ``{spec_dir}``, ``{python}``) are replaced inside argv
items, each item staying one argument whatever the value holds. The program also
gets ``TUNEFLEET_TRIAL``, ``TUNEFLEET_STUDY`` and ``TUNEFLEET_PARAM_<NAME>`` in its
environment and runs in its own working directory. Output is parsed as it
streams; intermediate values are reported, and when the coordinator says prune
(or the timeout passes, or the worker is told to stop) the program's whole process
group gets SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import collections
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tunefleet.core.distributions import Distribution
from tunefleet.errors import ConfigError, TrialPruned
from tunefleet.worker import parsers as p
from tunefleet.worker.trial import Trial

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class CommandFailed(Exception):
    """The program failed: a non-zero exit, or no metric printed."""

    fail_reason = "error"


class CommandTimeout(Exception):
    fail_reason = "timeout"


@dataclass(frozen=True)
class CommandConfig:
    argv: tuple[str, ...]
    values: tuple[str, ...]
    parser: str = "json"
    pattern: str | None = None
    step_pattern: str | None = None
    stream: str = "stdout"
    result_file: str | None = None
    constraints: tuple[str, ...] = ()
    user_attrs: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "trials/{study}/{trial}"
    timeout: float | None = None
    grace: float = 5.0
    base: str = "."

    def make_parser(self) -> p.Parser:
        if self.parser == "json":
            return p.JsonLines(self.values[0] if self.values else None)
        if self.parser == "regex":
            return p.Regex(self.pattern, self.step_pattern, self.stream)
        if self.parser == "file":
            if not self.result_file:
                raise ConfigError("parser 'file' needs result_file")
            return p.ResultFile(self.result_file)
        cls = p.READY_MADE.get(self.parser)
        if cls is None:
            known = ", ".join(["json", "regex", "file", *sorted(p.READY_MADE)])
            raise ConfigError(f"unknown parser {self.parser!r}; known parsers: {known}")
        return cls()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CommandConfig:
        return cls(
            argv=tuple(str(x) for x in d["command"]),
            values=tuple(d.get("values") or ()),
            parser=d.get("parser", "json"),
            pattern=d.get("pattern"),
            step_pattern=d.get("step_pattern"),
            stream=d.get("stream", "stdout"),
            result_file=d.get("result_file"),
            constraints=tuple(d.get("constraints") or ()),
            user_attrs=tuple(d.get("user_attrs") or ()),
            env={str(k): str(v) for k, v in (d.get("env") or {}).items()},
            workdir=d.get("workdir", "trials/{study}/{trial}"),
            timeout=d.get("timeout"),
            grace=float(d.get("grace", 5.0)),
            base=d.get("path", "."),
        )


def substitute(template: str, context: dict[str, Any]) -> str:
    """``template`` with ``{name}`` replaced; an unknown name is a ConfigError."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in context:
            raise ConfigError(f"{template!r} names {{{name}}}, which is not a param of the study")
        return str(context[name])

    return _PLACEHOLDER.sub(one, template)


def _pump(stream_name: str, pipe: IO[str], out: queue.Queue[tuple[str, str | None]]) -> None:
    for line in pipe:
        out.put((stream_name, line.rstrip("\n")))
    out.put((stream_name, None))


def _kill_group(proc: subprocess.Popen[str], grace: float) -> None:
    """SIGTERM the program's process group, SIGKILL it after ``grace`` seconds."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        proc.wait()


class CommandObjective:
    """An objective that runs ``config`` on the params of the study's static ``space``."""

    def __init__(self, config: CommandConfig, space: dict[str, Distribution]) -> None:
        if not space:
            raise ConfigError("a command objective needs a [space] table in the study spec")
        self.config = config
        self.space = space
        self._active: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def cancel(self) -> None:
        """End the running program now (the worker was told to stop)."""
        with self._lock:
            proc = self._active
        if proc is not None and proc.poll() is None:
            _kill_group(proc, self.config.grace)

    def __call__(self, trial: Trial) -> list[float]:
        cfg = self.config
        params = {name: trial._suggest(name, dist) for name, dist in self.space.items()}
        context = {**params, "trial": trial.number, "study": trial.study,
                   "spec_dir": str(Path(cfg.base).resolve()), "python": sys.executable}
        argv = [substitute(item, context) for item in cfg.argv]
        base = Path(cfg.base)
        workdir = base / substitute(cfg.workdir, context)
        workdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")  # a Python program's reports arrive as printed
        env["TUNEFLEET_TRIAL"] = str(trial.number)
        env["TUNEFLEET_STUDY"] = trial.study
        for name, value in params.items():
            env[f"TUNEFLEET_PARAM_{name.upper()}"] = str(value)
        env.update({k: substitute(v, context) for k, v in cfg.env.items()})
        parser = cfg.make_parser()
        try:
            proc = subprocess.Popen(
                argv, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL, text=True, errors="replace", bufsize=1,
                start_new_session=True,
            )
        except OSError as exc:
            raise CommandFailed(f"cannot start {argv[0]!r}: {exc.strerror}") from None
        with self._lock:
            self._active = proc
        try:
            self._follow(trial, proc, parser)
        finally:
            with self._lock:
                self._active = None
            if proc.poll() is None:
                _kill_group(proc, cfg.grace)
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        parser.finish(workdir)
        return self._results(trial, parser.metrics)

    def _follow(self, trial: Trial, proc: subprocess.Popen[str], parser: p.Parser) -> None:
        lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
        assert proc.stdout is not None and proc.stderr is not None
        readers = [
            threading.Thread(target=_pump, args=("stdout", proc.stdout, lines), daemon=True),
            threading.Thread(target=_pump, args=("stderr", proc.stderr, lines), daemon=True),
        ]
        for r in readers:
            r.start()
        try:
            self._read(trial, proc, parser, lines)
        finally:
            for r in readers:
                r.join(2)

    def _read(self, trial: Trial, proc: subprocess.Popen[str], parser: p.Parser,
              lines: queue.Queue[tuple[str, str | None]]) -> None:
        cfg = self.config
        tail: collections.deque[str] = collections.deque(maxlen=20)
        deadline = None if cfg.timeout is None else time.monotonic() + cfg.timeout
        open_streams = 2
        while open_streams:
            if deadline is not None and time.monotonic() > deadline:
                _kill_group(proc, cfg.grace)
                raise CommandTimeout(f"{cfg.argv[0]} ran past its timeout of {cfg.timeout:g} s")
            try:
                stream, line = lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                open_streams -= 1
                continue
            if stream == "stderr":
                tail.append(line)
            for step, value in parser.feed(stream, line):
                trial.report(value, step)
                if trial.should_prune():
                    _kill_group(proc, cfg.grace)
                    raise TrialPruned()
        code = proc.wait()
        if code != 0:
            last = "\n".join(tail) or "(nothing on stderr)"
            raise CommandFailed(f"{cfg.argv[0]} exited with code {code}; last stderr lines:\n{last}")

    def _results(self, trial: Trial, metrics: dict[str, Any]) -> list[float]:
        cfg = self.config

        def pick(name: str) -> float:
            if name not in metrics:
                seen = ", ".join(sorted(metrics)) or "none"
                raise CommandFailed(
                    f"{cfg.argv[0]} printed no metric {name!r} (metrics seen: {seen})"
                )
            try:
                return float(metrics[name])
            except (TypeError, ValueError):
                raise CommandFailed(f"metric {name!r} is not a number: {metrics[name]!r}") from None

        values = [pick(n) for n in cfg.values]
        if cfg.constraints:
            trial.constraints = [pick(n) for n in cfg.constraints]
        for name in cfg.user_attrs:
            if name in metrics:
                trial.set_user_attr(name, metrics[name])
        return values
