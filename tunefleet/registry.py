"""Building plug-ins (samplers, pruners) by name, with errors that help."""

from __future__ import annotations

import difflib
import inspect
from typing import Any, TypeVar

from tunefleet.errors import ConfigError

T = TypeVar("T")


def build(kind: str, registry: dict[str, type[T]], name: str, options: dict[str, Any]) -> T:
    cls = registry.get(name)
    if cls is None:
        close = difflib.get_close_matches(name, registry, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"unknown {kind} {name!r}{hint}; known {kind}s: {', '.join(sorted(registry))}"
        )
    keyword_only = [
        p
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    accepted = {p.name for p in keyword_only}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigError(
            f"{kind} {name!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options are: {', '.join(sorted(accepted)) or 'none'}"
        )
    missing = [p.name for p in keyword_only if p.default is p.empty and p.name not in options]
    if missing:
        raise ConfigError(
            f"{kind} {name!r} needs the option{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(repr, missing))} (see {cls.__name__}'s docstring)"
        )
    try:
        return cls(**options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{kind} {name!r}: {exc}") from None


def spec_of(registry: dict[str, type[Any]], obj: object) -> tuple[str, dict[str, Any]]:
    """(name, options) that rebuild ``obj``, read from its keyword-only constructor params."""
    for name, cls in registry.items():
        if type(obj) is cls:
            params = inspect.signature(cls.__init__).parameters.values()
            options = {
                p.name: getattr(obj, p.name)
                for p in params
                if p.kind is inspect.Parameter.KEYWORD_ONLY and hasattr(obj, p.name)
            }
            return name, options
    raise ConfigError(
        f"{type(obj).__name__} is not a registered plug-in; known: {', '.join(sorted(registry))}"
    )
