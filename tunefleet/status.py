"""The status table (in the manner of Ray Tune's) and the best-trial summary, with rich."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from tunefleet.core.settings import Direction
from tunefleet.core.trial import FrozenTrial, TrialState

_STATE_STYLE = {
    TrialState.COMPLETE: "green",
    TrialState.PRUNED: "yellow",
    TrialState.FAIL: "red",
    TrialState.RUNNING: "cyan",
    TrialState.WAITING: "dim",
}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _duration(t: FrozenTrial, now: float) -> str:
    if t.started_at is None:
        return ""
    end = t.finished_at if t.finished_at is not None else now
    return f"{end - t.started_at:.2f}s"


def trials_table(
    name: str,
    trials: Sequence[FrozenTrial],
    directions: Sequence[Direction],
    *,
    now: float,
    limit: int = 50,
    best: Sequence[FrozenTrial] = (),
) -> Table:
    params: list[str] = []
    for t in trials:
        params += [p for p in t.params if p not in params]
    counts = {s: 0 for s in TrialState}
    for t in trials:
        counts[t.state] += 1
    summary = ", ".join(f"{n} {s.name}" for s, n in counts.items() if n)
    table = Table(title=f"Study {name!r}: {len(trials)} trials ({summary or 'none yet'})")
    table.add_column("trial", justify="right")
    table.add_column("state")
    table.add_column("worker", overflow="fold")
    for p in params:
        table.add_column(p, justify="right")
    for i, d in enumerate(directions):
        label = "value" if len(directions) == 1 else f"value {i}"
        table.add_column(f"{label} ({d.value[:3]})", justify="right")
    table.add_column("last step", justify="right")
    table.add_column("duration", justify="right")
    table.add_column("note", overflow="fold")
    best_numbers = {t.number for t in best}
    shown = list(trials[-limit:]) if limit > 0 else list(trials)
    shown += [t for t in best if t not in shown]
    shown.sort(key=lambda t: t.number)
    for t in shown:
        note = ""
        if t.reason is not None:
            note = t.reason.value
        if t.retry_of is not None:
            note = (note + " " if note else "") + f"retry of {t.retry_of} (attempt {t.attempt})"
        if t.number in best_numbers:
            note = (note + " " if note else "") + "★ best"
        values = list(t.values) if t.values is not None else [None] * len(directions)
        table.add_row(
            str(t.number),
            f"[{_STATE_STYLE[t.state]}]{t.state.name}[/]",
            t.worker or "",
            *[_fmt(t.params[p]) if p in t.params else "" for p in params],
            *["" if v is None else _fmt(v) for v in values],
            "" if t.last_step is None else str(t.last_step),
            _duration(t, now),
            note,
        )
    if limit > 0 and len(trials) > limit:
        table.caption = f"showing the last {limit} trials and the best; --limit 0 shows all"
    return table


def best_text(name: str, best: Sequence[FrozenTrial], directions: Sequence[Direction]) -> str:
    if not best:
        return f"study {name!r} has no complete trial yet"
    if len(directions) == 1:
        t = best[0]
        lines = [f"best trial of {name!r}: #{t.number}  value {_fmt(t.value)}"]
        lines += [f"  {k} = {_fmt(v)}" for k, v in t.params.items()]
        return "\n".join(lines)
    lines = [f"Pareto front of {name!r}: {len(best)} trials"]
    for t in best:
        vals = ", ".join(_fmt(v) for v in (t.values or ()))
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in t.params.items())
        lines.append(f"  #{t.number}  values ({vals})  {params}")
    return "\n".join(lines)


def print_table(table: Table) -> None:
    Console(width=200 if not Console().is_terminal else None).print(table)
