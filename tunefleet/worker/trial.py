"""What an objective sees: ``Trial`` (with Optuna's method names) and ``FixedTrial``.

A trial arrives with the params the coordinator sampled at ask. ``suggest_*`` for
such a name with the same distribution is answered here, without a round trip;
any other name is one ``suggest`` request. The params really used, with their
distributions, go back with the tell.
"""

from __future__ import annotations

import abc
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tunefleet.convert import dist_to_wire
from tunefleet.core.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    ParamValue,
    check_value,
)
from tunefleet.errors import InvalidValue
from tunefleet.protocol import messages as m

Caller = Callable[[Any], Any]  # request model -> reply model (raises for error replies)


def new_request_id() -> str:
    return uuid.uuid4().hex


class _Suggests(abc.ABC):
    """The three suggest methods, on top of ``_suggest(name, dist)``."""

    @abc.abstractmethod
    def _suggest(self, name: str, dist: Distribution) -> Any:
        """The value of ``name`` under ``dist`` for this trial."""

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        return float(self._suggest(name, FloatDistribution(low, high, log=log, step=step)))

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int:
        return int(self._suggest(name, IntDistribution(low, high, log=log, step=step)))

    def suggest_categorical(self, name: str, choices: Sequence[ParamValue]) -> Any:
        return self._suggest(name, CategoricalDistribution(tuple(choices)))


class Trial(_Suggests):
    """A running trial, as the objective sees it."""

    def __init__(
        self,
        study: str,
        number: int,
        params: Mapping[str, ParamValue],
        distributions: Mapping[str, Distribution],
        call: Caller,
    ) -> None:
        self.study = study
        self.number = number
        self._offered = dict(params)
        self._offered_dists = dict(distributions)
        self._call = call
        self._params: dict[str, ParamValue] = {}
        self._dists: dict[str, Distribution] = {}
        self.user_attrs: dict[str, Any] = {}
        self.intermediate_values: dict[int, float] = {}
        self._held: dict[int, float] = {}
        self._next_step: int | None = None
        self.constraints: list[float] | None = None  # feasible when all <= 0, as in Optuna
        self._prune = False
        self.reports_sent = 0

    @property
    def params(self) -> dict[str, ParamValue]:
        """The params this trial has used so far."""
        return dict(self._params)

    @property
    def distributions(self) -> dict[str, Distribution]:
        return dict(self._dists)

    def _suggest(self, name: str, dist: Distribution) -> Any:
        if name in self._dists:
            if self._dists[name] != dist:
                raise InvalidValue(
                    f"parameter {name!r} was already suggested in trial {self.number} as "
                    f"{self._dists[name]}; it cannot be suggested again as {dist}"
                )
            return self._params[name]
        value: Any
        if name in self._offered and self._offered_dists.get(name, dist) == dist:
            try:
                check_value(name, dist, self._offered[name])
                value = self._offered[name]
            except InvalidValue:
                value = self._ask_coordinator(name, dist)
        else:
            value = self._ask_coordinator(name, dist)
        self._params[name] = value
        self._dists[name] = dist
        return value

    def _ask_coordinator(self, name: str, dist: Distribution) -> Any:
        reply = self._call(
            m.Suggest(
                request_id=new_request_id(),
                study=self.study,
                trial=self.number,
                name=name,
                distribution=dist_to_wire(dist),
            )
        )
        return reply.value

    def report(self, value: float, step: int) -> None:
        """Report an intermediate ``value`` at ``step`` (an int >= 0).

        Values are sent when the pruner's decision could change (the ``next_step`` of
        its last answer, e.g. ASHA's next rung); the ones in between travel with that
        report or with the tell, so every value is recorded at one round trip per rung.
        """
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise InvalidValue(f"step must be an int >= 0, got {step!r}")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InvalidValue(f"a reported value must be a number, got {value!r}") from None
        if step in self.intermediate_values:
            return  # as Optuna: a second report for the same step is ignored
        self.intermediate_values[step] = value
        self._held[step] = value
        if self._next_step is not None and step < self._next_step:
            return
        held, self._held = self._held, {}
        steps = sorted(held)
        reply = self._call(
            m.Report(
                request_id=new_request_id(),
                study=self.study,
                trial=self.number,
                steps=steps,
                values=[held[s] for s in steps],
            )
        )
        self.reports_sent += 1
        self._prune = bool(reply.prune)
        self._next_step = reply.next_step

    def take_held(self) -> dict[int, float]:
        """The reported values not sent yet (they go with the tell)."""
        held, self._held = self._held, {}
        return held

    def should_prune(self) -> bool:
        """Whether the pruner said stop at the last report (no round trip)."""
        return self._prune

    def set_user_attr(self, key: str, value: Any) -> None:
        self.user_attrs[key] = value


class FixedTrial(_Suggests):
    """A trial with given params, to run an objective without a study (as Optuna's)."""

    def __init__(self, params: Mapping[str, ParamValue], number: int = 0) -> None:
        self.number = number
        self._fixed = dict(params)
        self._params: dict[str, ParamValue] = {}
        self._dists: dict[str, Distribution] = {}
        self.user_attrs: dict[str, Any] = {}
        self.intermediate_values: dict[int, float] = {}

    @property
    def params(self) -> dict[str, ParamValue]:
        return dict(self._params)

    @property
    def distributions(self) -> dict[str, Distribution]:
        return dict(self._dists)

    def _suggest(self, name: str, dist: Distribution) -> Any:
        if name not in self._fixed:
            raise InvalidValue(f"FixedTrial has no value for parameter {name!r}")
        value = self._fixed[name]
        check_value(name, dist, value)
        self._params[name] = value
        self._dists[name] = dist
        return value

    def report(self, value: float, step: int) -> None:
        if not math.isnan(float(value)):
            self.intermediate_values.setdefault(step, float(value))

    def should_prune(self) -> bool:
        return False

    def set_user_attr(self, key: str, value: Any) -> None:
        self.user_attrs[key] = value
