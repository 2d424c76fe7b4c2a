"""Studies for pruner tests: driven through the real commands, replayable from their events."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from hypothesis import strategies as st

from tunefleet.core import events as ev
from tunefleet.core.replies import PruneAnswer, PruneDecision, TrialAssigned
from tunefleet.core.settings import Direction, PluginSpec, StudySettings
from tunefleet.core.study import Study
from tunefleet.core.trial import TrialState
from tunefleet.pruners.base import Pruner
from tunefleet.samplers import RandomSampler


def settings(direction: str = "minimize") -> StudySettings:
    # "median" only tells the core this is a pruned study; the object used is the one given
    return StudySettings(directions=(Direction(direction),), pruner=PluginSpec("median"))


@dataclass
class Run:
    """A study driven by hand: every command journals its events in ``events``."""

    pruner: Pruner
    direction: str = "minimize"
    study: Study = field(init=False)
    events: list[ev.Event] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.study = Study("s", settings(self.direction), RandomSampler(), self.pruner)

    def kw(self) -> dict[str, object]:
        i = next(self._ids)
        return {"request_id": f"r{i}", "now": float(i)}

    def start(self) -> int:
        events, reply = self.study.ask("w", **self.kw())  # type: ignore[arg-type]
        assert isinstance(reply, TrialAssigned)
        self.events += events
        return reply.number

    def report(self, number: int, values: Mapping[int, float]) -> PruneAnswer:
        events, reply = self.study.report(number, dict(values), **self.kw())  # type: ignore[arg-type]
        assert isinstance(reply, PruneAnswer)
        self.events += events
        return reply

    def decision(self) -> ev.IntermediateReported:
        """The last report's journaled event (prune, next_step, rung)."""
        last = self.events[-1]
        assert isinstance(last, ev.IntermediateReported)
        return last

    def finish(self, number: int, state: TrialState = TrialState.COMPLETE, value: float = 0.0) -> None:
        values = value if state == TrialState.COMPLETE else None
        events, _ = self.study.tell(number, state, values=values, **self.kw())  # type: ignore[arg-type]
        self.events += events

    def trial_with(self, curve: Mapping[int, float], state: TrialState = TrialState.COMPLETE) -> int:
        """A whole trial reporting ``curve`` step by step (pruned where the pruner says)."""
        number = self.start()
        for step in sorted(curve):
            if self.report(number, {step: curve[step]}).prune:
                self.finish(number, TrialState.PRUNED)
                return number
        self.finish(number, state)
        return number

    def replayed(self, pruner: Pruner) -> Run:
        """A new Run, as after a coordinator restart: these events applied to a fresh
        Study with a fresh ``pruner`` that has seen no report."""
        twin = Run(pruner, self.direction)
        for e in self.events:
            twin.study.apply(e)
        twin.events = list(self.events)
        twin._ids = itertools.count(len(self.events) + 1000)
        return twin


@dataclass(frozen=True)
class Script:
    """A random asynchronous history: ``curves[i]`` is trial i's values by step, and
    ``order`` picks which running trial reports next (``width`` of them run at once)."""

    curves: Sequence[Mapping[int, float]]
    order: Sequence[int]
    width: int


class Player:
    """Plays a Script on every run in ``runs`` in lock step, one report at a time,
    checking they answer (and journal) alike, and as ``expect`` says. A pruned trial
    is told PRUNED, a trial at the end of its curve COMPLETE (with its last value).
    ``play`` may stop early and go on later, after more runs joined (e.g. one
    replayed from the others' events)."""

    def __init__(
        self,
        script: Script,
        runs: Sequence[Run],
        expect: Callable[[Run, int, int, float], PruneDecision | bool] | None = None,
    ) -> None:
        self.script = script
        self.runs = list(runs)
        # expect(first run, number, step, value), asked before each report: the decision
        # (or just whether to prune) every run must answer with
        self.expect = expect
        self.answers: list[PruneAnswer] = []
        self._waiting = list(range(len(script.curves)))
        self._running: list[tuple[int, int, list[int]]] = []  # (curve, trial number, steps left)
        self._picks = iter(script.order)

    def play(self, reports: int | None = None) -> None:
        """Play until the script ends, or ``reports`` more reports have been made."""
        made = 0
        curves = self.script.curves
        while self._waiting or self._running:
            while self._waiting and len(self._running) < self.script.width:
                i = self._waiting.pop(0)
                numbers = {run.start() for run in self.runs}
                assert len(numbers) == 1
                self._running.append((i, numbers.pop(), sorted(curves[i])))
            slot = next(self._picks, 0) % len(self._running)
            i, number, left = self._running[slot]
            if not left:
                self._running.pop(slot)
                last = curves[i][max(curves[i])]
                for run in self.runs:
                    run.finish(number, value=0.0 if math.isnan(last) else last)
                continue
            if reports is not None and made >= reports:
                return
            step = left.pop(0)
            value = curves[i][step]
            want = None if self.expect is None else self.expect(self.runs[0], number, step, value)
            answers = [run.report(number, {step: value}) for run in self.runs]
            made += 1
            assert all(a == answers[0] for a in answers), (number, step, answers)
            journaled = {(d.number, d.prune, d.next_step, d.rung) for d in (r.decision() for r in self.runs)}
            assert len(journaled) == 1, journaled
            if isinstance(want, bool):
                assert answers[0].prune is want, (number, step, value, answers[0])
            elif want is not None:
                got = self.runs[0].decision()
                assert (got.prune, got.next_step, got.rung) == (want.prune, want.next_step, want.rung), (
                    number, step, value, got, want)
            self.answers.append(answers[0])
            if answers[0].prune:
                self._running.pop(slot)
                for run in self.runs:
                    run.finish(number, TrialState.PRUNED)


NAN = math.nan


@st.composite
def scripts(
    draw: st.DrawFn,
    *,
    max_trials: int = 30,
    max_steps: int = 20,
    levels: int = 6,
    nan: bool = True,
    sparse: bool = True,
) -> Script:
    """Random histories with many ties (values from ``levels`` integers), some NaN, and
    (``sparse``) trials that skip steps; reports always go forward in steps."""
    value = st.integers(0, levels - 1).map(float)
    if nan:
        value = st.one_of(value, value, value, value, value, value, value, st.just(NAN))
    n = draw(st.integers(1, max_trials))
    curves = []
    for _ in range(n):
        last = draw(st.integers(0, max_steps))
        steps = list(range(last + 1))
        if sparse:
            steps = sorted(draw(st.sets(st.integers(0, last), min_size=1)) | {last})
        curves.append({s: draw(value) for s in steps})
    order = draw(st.lists(st.integers(0, 7), max_size=4 * max_steps * n))
    return Script(curves, order, draw(st.integers(1, 6)))
