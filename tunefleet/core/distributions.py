"""Search-space distributions, with Optuna's names, validation and semantics.

A distribution maps a parameter's external value (what the objective sees) to an
internal float (what samplers and the StudyView columns hold) and back:
floats and ints are themselves, a categorical is the index of its choice.
"""

from __future__ import annotations

import decimal
import math
from dataclasses import dataclass
from typing import Any, Union

from tunefleet.errors import InvalidValue

ParamValue = Union[float, int, str, bool, None]
CHOICE_TYPES = (str, int, float, bool, type(None))


def _finite(name: str, x: float) -> None:
    if not math.isfinite(x):
        raise InvalidValue(f"{name} must be a finite number, got {x!r}")


def _last_step(low: float, high: float, step: float) -> float:
    """The highest ``low + n * step`` that is <= ``high``, as Optuna computes it (in decimal,
    so that 0.3 with step 0.1 stays 0.3). Idempotent: a high it returns is returned again."""
    with decimal.localcontext() as ctx:
        ctx.prec = 800  # exact for any pair of finite floats
        d_low, d_step = decimal.Decimal(str(low)), decimal.Decimal(str(step))
        n = (decimal.Decimal(str(high)) - d_low) // d_step
        if float(d_low + (n + 1) * d_step) == high:  # on the grid but for float rounding
            n += 1
        return float(d_low + n * d_step)


@dataclass(frozen=True)
class FloatDistribution:
    """A float in [low, high]; ``log`` samples on a log scale; ``step`` discretizes."""

    low: float
    high: float
    log: bool = False
    step: float | None = None

    def __post_init__(self) -> None:
        _finite("low", self.low)
        _finite("high", self.high)
        if self.log and self.step is not None:
            raise InvalidValue("a float distribution cannot have both log=True and a step")
        if self.low > self.high:
            raise InvalidValue(f"low must be <= high, got low={self.low!r} > high={self.high!r}")
        if self.log and self.low <= 0.0:
            raise InvalidValue(f"log=True needs low > 0, got low={self.low!r}")
        if self.step is not None:
            if not (self.step > 0 and math.isfinite(self.step)):
                raise InvalidValue(f"step must be a positive number, got {self.step!r}")
            object.__setattr__(self, "high", _last_step(self.low, self.high, self.step))
        object.__setattr__(self, "low", float(self.low))
        object.__setattr__(self, "high", float(self.high))

    def single(self) -> bool:
        return self.low == self.high

    def contains(self, internal: float) -> bool:
        if math.isnan(internal) or not (self.low <= internal <= self.high):
            return False
        if self.step is None:
            return True
        k = (internal - self.low) / self.step
        if math.isinf(k):  # a step far below float resolution: every float is on the grid
            return True
        # Float rounding in (internal - low) / step grows with the magnitudes involved.
        slack = 1e-8 + 1e-14 * (abs(k) + (abs(internal) + abs(self.low)) / self.step)
        return abs(k - round(k)) <= slack

    def to_internal(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidValue(f"{value!r} is not a number")
        return float(value)

    def to_external(self, internal: float) -> float:
        return float(internal)


@dataclass(frozen=True)
class IntDistribution:
    """An int in [low, high]; ``log`` samples on a log scale; ``step`` spaces values."""

    low: int
    high: int
    log: bool = False
    step: int = 1

    def __post_init__(self) -> None:
        for name in ("low", "high", "step"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                if isinstance(v, float) and v.is_integer():
                    object.__setattr__(self, name, int(v))
                else:
                    raise InvalidValue(f"{name} of an int distribution must be an int, got {v!r}")
        if self.log and self.step != 1:
            raise InvalidValue("an int distribution with log=True must have step=1")
        if self.step < 1:
            raise InvalidValue(f"step must be >= 1, got {self.step!r}")
        if self.low > self.high:
            raise InvalidValue(f"low must be <= high, got low={self.low!r} > high={self.high!r}")
        if self.log and self.low < 1:
            raise InvalidValue(f"log=True needs low >= 1, got low={self.low!r}")
        n = (self.high - self.low) // self.step
        object.__setattr__(self, "high", self.low + n * self.step)

    def single(self) -> bool:
        return self.low == self.high

    def contains(self, internal: float) -> bool:
        if math.isnan(internal) or not (self.low <= internal <= self.high):
            return False
        return (internal - self.low) % self.step == 0

    def to_internal(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidValue(f"{value!r} is not an int")
        if isinstance(value, float) and not value.is_integer():
            raise InvalidValue(f"{value!r} is not an int")
        return float(value)

    def to_external(self, internal: float) -> int:
        return int(round(internal))


@dataclass(frozen=True)
class CategoricalDistribution:
    """One of ``choices`` (str, int, float, bool or None); held internally as its index."""

    choices: tuple[ParamValue, ...]

    def __post_init__(self) -> None:
        choices = tuple(self.choices)
        if not choices:
            raise InvalidValue("a categorical distribution needs at least one choice")
        for c in choices:
            if not isinstance(c, CHOICE_TYPES):
                raise InvalidValue(
                    f"choices must be str, int, float, bool or None; {c!r} is a {type(c).__name__}"
                )
        object.__setattr__(self, "choices", choices)

    def single(self) -> bool:
        return len(self.choices) == 1

    def contains(self, internal: float) -> bool:
        if not math.isfinite(internal):
            return False
        i = int(internal)
        return i == internal and 0 <= i < len(self.choices)

    def to_internal(self, value: Any) -> float:
        for i, c in enumerate(self.choices):
            # 1 == True and 1.0 == 1 in Python; a choice matches only its own type.
            if c == value and type(c) is type(value):
                return float(i)
            if c is None and value is None:
                return float(i)
            if type(c) is float and type(value) is float and math.isnan(c) and math.isnan(value):
                return float(i)  # nan != nan, yet a NaN choice must be usable
        raise InvalidValue(f"{value!r} is not one of the choices {list(self.choices)!r}")

    def to_external(self, internal: float) -> ParamValue:
        return self.choices[int(internal)]


Distribution = Union[FloatDistribution, IntDistribution, CategoricalDistribution]


def to_dict(d: Distribution) -> dict[str, Any]:
    """A plain dict for the wire and the journal."""
    if isinstance(d, FloatDistribution):
        return {"type": "float", "low": d.low, "high": d.high, "log": d.log, "step": d.step}
    if isinstance(d, IntDistribution):
        return {"type": "int", "low": d.low, "high": d.high, "log": d.log, "step": d.step}
    return {"type": "categorical", "choices": list(d.choices)}


def from_dict(data: dict[str, Any]) -> Distribution:
    """The inverse of ``to_dict``; raises InvalidValue for anything else."""
    kind = data.get("type")
    try:
        if kind == "float":
            return FloatDistribution(
                data["low"], data["high"], log=bool(data.get("log", False)), step=data.get("step")
            )
        if kind == "int":
            return IntDistribution(
                data["low"], data["high"], log=bool(data.get("log", False)), step=data.get("step", 1)
            )
        if kind == "categorical":
            return CategoricalDistribution(tuple(data["choices"]))
    except KeyError as exc:
        raise InvalidValue(f"a {kind} distribution needs the key {exc.args[0]!r}") from None
    except TypeError as exc:
        raise InvalidValue(f"bad {kind} distribution {data!r}: {exc}") from None
    raise InvalidValue(f"unknown distribution type {kind!r}; expected float, int or categorical")


def check_value(name: str, dist: Distribution, value: Any) -> float:
    """The internal form of ``value``, or InvalidValue saying why it is outside ``dist``."""
    internal = dist.to_internal(value)
    if not dist.contains(internal):
        raise InvalidValue(f"parameter {name!r}: {value!r} is outside {dist}")
    return internal
