"""Study spec files (TOML) -> a CreateStudy request and run options.

    [study]
    name = "quickstart"
    direction = "minimize"            # or directions = ["minimize", "maximize"]
    n_trials = 100
    sampler = "tpe"                   # the default; or { name = "tpe", seed = 42, n_startup_trials = 20 }
                                      # samplers: tpe, random, qmc, grid (see tunefleet/samplers)
    pruner = "median"                 # or { name = "median", n_startup_trials = 5 }
    max_concurrent = 8                # optional: trials running at once
    max_retry = 0                     # retries of trials that raised or returned NaN
    lease_seconds = 60                # a trial whose worker is silent this long is lost

    [objective]
    function = "quickstart:objective" # module:function, looked up beside this file first

    [space]                           # optional: a static search space
    x = { type = "float", low = 0, high = 1, log = false }
    n = { type = "int", low = 1, high = 8 }
    act = { type = "categorical", choices = ["relu", "tanh"] }

    [run]                             # for `tunefleet run`
    workers = 4
    journal = "tunefleet.db"

Every error names the file, the key and what was expected.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tunefleet.core import distributions as dists
from tunefleet.errors import ConfigError, InvalidValue, SpecError
from tunefleet.protocol import messages as m
from tunefleet.pruners import PRUNERS
from tunefleet.registry import build
from tunefleet.samplers import SAMPLERS
from tunefleet.worker.trial import new_request_id


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StudySection(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")]
    direction: Literal["minimize", "maximize"] | None = None
    directions: list[Literal["minimize", "maximize"]] | None = None
    n_trials: Annotated[int, Field(ge=0)] | None = None
    sampler: str | dict[str, Any] = "tpe"
    pruner: str | dict[str, Any] = "nop"
    max_concurrent: Annotated[int, Field(ge=1)] | None = None
    max_retry: Annotated[int, Field(ge=0)] = 0
    retry_lost: bool = True
    lease_seconds: Annotated[float, Field(gt=0)] = 60.0


class ObjectiveSection(_Strict):
    """Either a Python ``function`` or an external ``command`` (see worker/command.py)."""

    function: Annotated[str, Field(pattern=r"^[^:]+:[A-Za-z_][A-Za-z0-9_]*$")] | None = None
    command: Annotated[list[str], Field(min_length=1)] | None = None
    values: list[str] | None = None
    parser: str = "json"
    pattern: str | None = None
    step_pattern: str | None = None
    stream: Literal["stdout", "stderr", "both"] = "stdout"
    result_file: str | None = None
    constraints: list[str] | None = None
    user_attrs: list[str] | None = None
    env: dict[str, str] | None = None
    workdir: str = "trials/{study}/{trial}"
    timeout: Annotated[float, Field(gt=0)] | None = None
    grace: Annotated[float, Field(ge=0)] = 5.0

    @model_validator(mode="after")
    def _one_kind(self) -> ObjectiveSection:
        if (self.function is None) == (self.command is None):
            raise ValueError("give either function = 'module:function' or command = [argv...]")
        if self.command is not None:
            if not self.values:
                raise ValueError("a command needs values = [metric names], one per objective")
            for pattern in (self.pattern, self.step_pattern):
                if pattern is not None:
                    try:
                        re.compile(pattern)
                    except re.error as exc:
                        raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
        return self


class RunSection(_Strict):
    workers: Annotated[int, Field(ge=1, le=1024)] = 4
    journal: str = "tunefleet.db"


class SpecFile(_Strict):
    study: StudySection
    objective: ObjectiveSection
    space: dict[str, dict[str, Any]] | None = None
    run: RunSection = RunSection()

    @field_validator("space")
    @classmethod
    def _space(cls, v: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]] | None:
        if v is None:
            return v
        for name, d in v.items():
            try:
                dists.from_dict(d)
            except InvalidValue as exc:
                raise ValueError(f"param {name!r}: {exc}") from None
        return v


class Spec:
    """A loaded, checked study spec."""

    def __init__(self, path: Path, data: SpecFile) -> None:
        self.path = path
        self.data = data

    @property
    def name(self) -> str:
        return self.data.study.name

    @property
    def objective(self) -> dict[str, Any]:
        """What workers need to run the objective; relative paths are from the spec's folder."""
        obj = self.data.objective.model_dump(exclude_none=True)
        obj["path"] = str(self.path.parent.resolve())
        return obj

    def create_request(self, *, load_if_exists: bool = True) -> m.CreateStudy:
        s = self.data.study
        directions = s.directions or [s.direction or "minimize"]
        return m.CreateStudy(
            request_id=new_request_id(),
            study=s.name,
            directions=directions,
            sampler=_plugin(self.path, "sampler", s.sampler),
            pruner=_plugin(self.path, "pruner", s.pruner),
            space=self.data.space,  # type: ignore[arg-type]
            n_trials=s.n_trials,
            max_concurrent=s.max_concurrent,
            max_retry=s.max_retry,
            retry_lost=s.retry_lost,
            lease_seconds=s.lease_seconds,
            objective=self.objective,
            load_if_exists=load_if_exists,
        )


def _plugin(path: Path, kind: str, value: str | dict[str, Any]) -> m.Plugin:
    if isinstance(value, str):
        name, options = value, {}
    else:
        options = dict(value)
        name = options.pop("name", None)
        if not isinstance(name, str):
            raise SpecError(f"{path}: [study].{kind} needs a 'name' (e.g. {{ name = \"random\" }})")
    registry: dict[str, Any] = SAMPLERS if kind == "sampler" else PRUNERS
    try:
        build(kind, registry, name, options)
    except Exception as exc:
        raise SpecError(f"{path}: [study].{kind}: {exc}") from None
    return m.Plugin(name=name, options=options)


_PATTERNS = {
    "name": "must use only letters, digits, '_', '.' and '-'",
    "function": "must look like 'module:function' or 'file.py:function'",
}


def _where(loc: tuple[Any, ...]) -> str:
    if not loc:
        return "the file"
    section, *rest = (str(x) for x in loc)
    return f"[{section}]" + "".join(f".{r}" for r in rest)


def load_spec(path: str | Path) -> Spec:
    """Read and check a spec; SpecError names the file, the key and what was expected."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read the study spec {p}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{p} is not valid TOML: {exc}") from None
    try:
        spec = SpecFile.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors()[:5]:
            loc = tuple(x for x in err["loc"] if not str(x).startswith("function-"))
            got = err.get("input")
            shown = "" if isinstance(got, dict) else f" (got {got!r})"
            msg = err["msg"].replace("Value error, ", "")
            if err["type"] == "string_pattern_mismatch":
                msg = _PATTERNS.get(str(loc[-1]) if loc else "", msg)
            if err["type"] == "extra_forbidden":
                msg = "is not a known key"
            elif err["type"] == "missing":
                msg, shown = "is required", ""
            lines.append(f"{p}: {_where(loc)} {msg}{shown}")
        raise SpecError("\n".join(lines)) from None
    s = spec.study
    if s.direction is not None and s.directions is not None:
        raise SpecError(f"{p}: [study] give either direction or directions, not both")
    obj = spec.objective
    if obj.command is not None:
        n = len(s.directions or [s.direction or "minimize"])
        if len(obj.values or ()) != n:
            raise SpecError(f"{p}: [objective].values names {len(obj.values or ())} metric(s) but "
                            f"the study has {n} direction(s)")
        if not spec.space:
            raise SpecError(f"{p}: a command objective needs a [space] table of its params")
        from tunefleet.worker.command import CommandConfig, substitute

        context = {**dict.fromkeys(spec.space, 0), "trial": 0, "study": s.name,
                   "spec_dir": "", "python": ""}
        try:
            for item in [*obj.command, obj.workdir, *(obj.env or {}).values()]:
                substitute(item, context)
            CommandConfig.from_dict(obj.model_dump()).make_parser()
        except ConfigError as exc:
            raise SpecError(f"{p}: [objective] {exc}") from None
    return Spec(p, spec)
