"""The objective a worker runs for a study: its Python function or its command."""

from __future__ import annotations

from typing import Any

from tunefleet.core.settings import StudySettings
from tunefleet.errors import ConfigError
from tunefleet.worker.command import CommandConfig, CommandObjective
from tunefleet.worker.python import load_objective


def objective_for(study: str, settings: dict[str, Any], override: str | None = None) -> Any:
    """``override`` (module:function) if given, else what the study was created with."""
    if override:
        return load_objective(override)
    spec = settings.get("objective") or {}
    if spec.get("command"):
        space = StudySettings.from_dict(settings).space or {}
        return CommandObjective(CommandConfig.from_dict(spec), space)
    if spec.get("function"):
        return load_objective(spec["function"], spec.get("path"))
    raise ConfigError(f"study {study!r} names no objective; pass --objective module:function")
