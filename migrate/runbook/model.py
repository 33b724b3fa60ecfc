"""The runbook model: steps with a precondition, an action, a check and a rollback, as YAML.

The same file is rendered for a person (``migrate runbook show``) and executed by the
engine, so the instructions someone follows at 3 a.m. are the ones CI rehearses weekly.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from string import Template
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from migrate.errors import InputError

STEP_ID = r"^[a-z][a-z0-9-]{0,62}$"
REPO_RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Call(Strict):
    """A registered callable and its arguments; ``${name}`` in strings takes a run parameter."""

    do: str = Field(description="Registered name, e.g. dns.swing.")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"do": value} if isinstance(value, str) else value

    def arguments(self, params: dict[str, Any]) -> dict[str, Any]:
        return {key: substitute(value, params) for key, value in self.with_.items()}

    def describe(self, params: dict[str, Any] | None = None) -> str:
        args = self.arguments(params) if params is not None else self.with_
        shown = ", ".join(f"{k}={v}" for k, v in args.items())
        return f"{self.do}({shown})"


class Step(Strict):
    id: str = Field(pattern=STEP_ID)
    title: str
    why: str = Field("", description="What the step is for, for the person reading the runbook.")
    precondition: Call | None = Field(None, description="Must hold before the action runs.")
    when_precondition_fails: Literal["fail", "skip"] = "fail"
    action: Call
    check: Call | None = Field(None, description="Proves the action worked; failing it fails the step.")
    rollback: Call | None = Field(None, description="Undoes the action, if the run is rolled back.")
    manual: str | None = Field(None, description="The command a person would type instead.")
    always: bool = Field(False, description="Runs even after an earlier step failed (clean-up).")
    retries: int = Field(0, ge=0, le=20, description="Extra attempts when the action raises.")
    retry_delay: float = Field(2.0, ge=0)
    needs: list[str] | None = Field(
        None,
        description=(
            "Earlier steps this one waits for; steps whose needs are met run at the same time. "
            "Unset: every earlier step (one after the other)."
        ),
    )
    on_failure: Literal["stop", "report"] = Field(
        "stop",
        description="report: a failure is recorded and reported, but the run goes on and is not failed by it.",
    )


class Param(Strict):
    help: str = ""
    required: bool = False
    default: Any = None
    choices: list[Any] | None = Field(None, description="the values it may take")
    target: bool = Field(False, description="it names a target of the service spec")


class Runbook(Strict):
    name: str = Field(pattern=STEP_ID)
    title: str
    summary: str = ""
    params: dict[str, Param] = Field(default_factory=dict)
    imports: list[str] = Field(default_factory=list, description="Python modules that register extra actions.")
    distinct: list[str] = Field(default_factory=list, description="Parameters that must name different targets.")
    throwaway_secrets: bool = Field(
        False, description="Its stacks are throwaway: an app secret whose variable is unset gets a random value."
    )
    steps: list[Step] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _unique_ids(cls, steps: list[Step]) -> list[Step]:
        seen: set[str] = set()
        for step in steps:
            if step.id in seen:
                raise ValueError(f"duplicate step id {step.id!r}")
            for need in step.needs or []:
                if need not in seen:
                    raise ValueError(f"step {step.id!r} needs {need!r}, which is not an earlier step")
            seen.add(step.id)
        return steps

    def needs_of(self, step: Step) -> list[str]:
        """The steps ``step`` waits for: its ``needs``, or else every step before it."""
        if step.needs is not None:
            return list(step.needs)
        return [s.id for s in self.steps[: self.steps.index(step)]]

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def check_params(self, params: dict[str, Any], spec: Any) -> None:
        """Refuse a run whose parameters the runbook declares wrong: a value outside its
        ``choices``, a ``target`` the spec lacks, ``distinct`` ones naming the same target.
        Checked here so every command starting the runbook checks the same."""
        for name, param in self.params.items():
            value = params.get(name)
            if value is None:
                continue
            if param.choices is not None and value not in param.choices:
                choices = " or ".join(str(c) for c in param.choices)
                raise InputError(f"runbook {self.name}: {name} must be {choices}, not {value!r}")
            if param.target and spec is not None:
                spec.target(str(value))
        named = [str(params[n]) for n in self.distinct if params.get(n) is not None]
        if len(set(named)) != len(named):
            raise InputError(f"runbook {self.name}: {' and '.join(self.distinct)} must be different targets")

    def resolve_params(self, given: dict[str, Any]) -> dict[str, Any]:
        """The run's parameters: defaults filled in, required ones checked."""
        resolved = {k: v for k, v in given.items() if v is not None}
        for name, param in self.params.items():
            if name not in resolved:
                if param.required:
                    raise InputError(f"runbook {self.name}: parameter {name!r} is required ({param.help})")
                resolved[name] = param.default
        # A default may name another parameter: holding_on defaults to "${from}".
        return {k: substitute(v, resolved) if k not in given or given[k] is None else v for k, v in resolved.items()}


_WHOLE = re.compile(r"^\$\{(\w+)\}$")


def substitute(value: Any, params: dict[str, Any]) -> Any:
    """``${name}`` → the parameter; a string that is exactly ``${name}`` keeps the value's type."""
    if isinstance(value, str):
        whole = _WHOLE.match(value)
        if whole and whole[1] in params:
            return params[whole[1]]
        return Template(value).safe_substitute({k: "" if v is None else v for k, v in params.items()})
    if isinstance(value, list):
        return [substitute(v, params) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, params) for k, v in value.items()}
    return value


def search_path() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("MIGRATE_RUNBOOKS", "").split(os.pathsep) if p]
    return [*extra, Path("runbooks"), REPO_RUNBOOKS]


def find_runbook(name_or_path: str | Path) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.parent != Path("."):
        if candidate.is_file():
            return candidate
        raise InputError(f"{candidate}: no such runbook file")
    for directory in search_path():
        for suffix in (".yaml", ".yml"):
            path = directory / f"{name_or_path}{suffix}"
            if path.is_file():
                return path
    known = sorted({p.stem for d in search_path() if d.is_dir() for p in d.glob("*.yaml")})
    raise InputError(f"unknown runbook {name_or_path!r} (known: {', '.join(known) or 'none'})")


def load_runbook(name_or_path: str | Path) -> Runbook:
    path = find_runbook(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: invalid YAML: {exc}") from None
    return parse_runbook(data, str(path))


def parse_runbook(data: Any, source: str) -> Runbook:
    try:
        return Runbook.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{source}: {where}: {first['msg']}") from None
