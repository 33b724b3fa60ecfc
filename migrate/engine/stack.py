"""Plan, deploy, destroy and report targets through the real Pulumi engine (Automation API).

Public API (each takes the loaded spec and a target name from it):

- ``up(spec, target, on_event=None, *, refresh=False, options=None) -> TargetOutputs``
- ``preview(spec, target, on_event=None, *, refresh=False, options=None) -> PreviewResult``
- ``destroy(spec, target, on_event=None, *, options=None) -> bool`` (False: nothing was deployed)
- ``status(spec, *, options=None, check_health=True) -> list[TargetStatus]``
- ``unlock(spec, target, *, options=None)``: clear a stale lock left by a killed run

Failures raise ``MigrateError`` subclasses with one clear line (see ``engine.errors``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from migrate.engine.errors import engine_error
from migrate.engine.events import EventLog, OnEvent, Step
from migrate.engine.plugins import ensure_plugins
from migrate.engine.workspace import EngineOptions, open_stack, stack_name, workspace
from migrate.errors import NotDeployedError

if TYPE_CHECKING:
    from migrate.outputs import TargetOutputs
    from migrate.spec.model import ServiceSpec

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class PreviewResult:
    """What ``up`` would do: counts per operation and the changing resources."""

    target: str
    changes: dict[str, int]
    steps: list[Step] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return any(op != "same" and count for op, count in self.changes.items())

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "has_changes": self.has_changes,
            "changes": self.changes,
            "steps": [{"op": s.op, "name": s.name, "type": s.type} for s in self.steps if s.op != "same"],
        }


@dataclass
class TargetStatus:
    target: str
    provider: str
    stack: str
    deployed: bool
    resources: int = 0
    last_update: str | None = None
    outputs: TargetOutputs | None = None
    health: str | None = None  # "healthy", "unhealthy: why", or None when not checked
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "provider": self.provider,
            "stack": self.stack,
            "deployed": self.deployed,
            "resources": self.resources,
            "last_update": self.last_update,
            "outputs": self.outputs.public_view() if self.outputs else None,
            "health": self.health,
            "error": self.error,
        }


def _verbose_output() -> Callable[[str], None] | None:
    if os.environ.get("MIGRATE_VERBOSE"):
        return lambda line: log.debug("pulumi: %s", line.rstrip())
    return None


def _engine_call(spec: ServiceSpec, target: str, events: EventLog, call: Callable[[], T]) -> T:
    from pulumi import automation as auto

    try:
        return call()
    except auto.CommandError as exc:
        raise engine_error(exc, spec, target, events.resource_failures()) from None


def _check_inputs(spec: ServiceSpec, target: str) -> None:
    """Fail on bad input (an unset secret, a part the adapter cannot give) before the engine starts."""
    from providers.hosting import UnsupportedError
    from providers.registry import hosting_adapter

    adapter = hosting_adapter(spec.target(target).provider)
    if any(process.files for process in spec.processes.values()) and not adapter.supports.config_files:
        raise UnsupportedError(adapter.unsupported("config_files", target))
    if spec.postgres is not None and spec.postgres.locale and not adapter.supports.database_locale:
        raise UnsupportedError(adapter.unsupported("database_locale", target))
    for key, ref in spec.secrets.items():
        ref.resolve(f"secrets.{key}")


def up(
    spec: ServiceSpec,
    target: str,
    on_event: OnEvent | None = None,
    *,
    refresh: bool = False,
    options: EngineOptions | None = None,
) -> TargetOutputs:
    """Create or update every resource of ``target``; return its outputs.

    ``refresh`` first reconciles the state with what really runs (after a crash).
    Dead processes are noticed even without it: their diff asks for a restart.
    """
    from migrate.engine import fingerprint

    _check_inputs(spec, target)
    stack = open_stack(spec, target, options, create=True)
    ensure_plugins(spec, target, stack.workspace)  # type: ignore[arg-type]
    events = EventLog(forward=on_event)
    started = time.monotonic()
    fingerprint.forget(spec, target)  # an update that does not finish leaves no proof of currency
    result = _engine_call(
        spec,
        target,
        events,
        lambda: stack.up(
            on_event=events, refresh=refresh or None, on_output=_verbose_output(), color="never", suppress_progress=True
        ),
    )
    log.debug("up %s: %s in %.1fs", target, events.changes(), time.monotonic() - started)
    fingerprint.record(spec, target, options)
    return outputs_from_values(spec, target, {key: value.value for key, value in result.outputs.items()})


def set_restart_generation(
    spec: ServiceSpec, target: str, generation: str, *, options: EngineOptions | None = None
) -> bool:
    """Give ``target``'s stack a new restart generation (its next ``up`` restarts the processes
    marked ``restart_after_promotion``); False when it already had this one (a resumed run)."""
    from pulumi import automation as auto

    from providers.hosting import RESTART_GENERATION_KEY as key

    stack = open_stack(spec, target, options, create=False)
    try:
        if stack.get_config(key).value == generation:
            return False
    except auto.CommandError:
        pass  # not set yet
    stack.set_config(key, auto.ConfigValue(generation))
    return True


def preview(
    spec: ServiceSpec,
    target: str,
    on_event: OnEvent | None = None,
    *,
    refresh: bool = False,
    options: EngineOptions | None = None,
) -> PreviewResult:
    """What ``up`` would create, update or delete. Nothing is changed, nor created: a deployed
    target is previewed under ``read_only_engine``, one never deployed (no stack in the state)
    in a scratch engine home removed afterwards, so no stack, passphrase or state is made."""
    from migrate.engine.workspace import local_state_missing, read_only_engine, scratch_engine

    _check_inputs(spec, target)
    options = options or EngineOptions()
    with read_only_engine():
        if not local_state_missing(options.backend):
            try:
                return _preview(spec, target, on_event, refresh, options, create=False)
            except NotDeployedError:
                pass
        with scratch_engine():
            return _preview(spec, target, on_event, refresh, dataclasses.replace(options, backend=None), create=True)


def _preview(
    spec: ServiceSpec, target: str, on_event: OnEvent | None, refresh: bool, options: EngineOptions, *, create: bool
) -> PreviewResult:
    stack = open_stack(spec, target, options, create=create)
    ensure_plugins(spec, target)  # read-only: a missing plugin is named, not installed
    events = EventLog(forward=on_event)
    result = _engine_call(
        spec,
        target,
        events,
        lambda: stack.preview(on_event=events, refresh=refresh or None, on_output=_verbose_output(), color="never"),
    )
    changes = {str(getattr(op, "value", op)): count for op, count in result.change_summary.items()}
    return PreviewResult(target=target, changes=changes, steps=events.steps)


def destroy(
    spec: ServiceSpec, target: str, on_event: OnEvent | None = None, *, options: EngineOptions | None = None
) -> bool:
    """Delete every resource of ``target`` and its stack. False if it was not deployed."""
    from migrate.engine import fingerprint

    fingerprint.forget(spec, target)
    try:
        stack = open_stack(spec, target, options, create=False)
    except NotDeployedError:
        return False
    ensure_plugins(spec, target, stack.workspace)  # type: ignore[arg-type]
    events = EventLog(forward=on_event)
    _engine_call(
        spec,
        target,
        events,
        lambda: stack.destroy(
            on_event=events, remove=True, on_output=_verbose_output(), color="never", suppress_progress=True
        ),
    )
    return True


def unlock(spec: ServiceSpec, target: str, *, options: EngineOptions | None = None) -> None:
    """Remove the stack's lock (only when no run is active: a killed run leaves it behind)."""
    stack = open_stack(spec, target, options, create=False)
    _engine_call(spec, target, EventLog(), stack.cancel)


def status(spec: ServiceSpec, *, options: EngineOptions | None = None, check_health: bool = True) -> list[TargetStatus]:
    """Every target of the spec: deployed or not, its outputs, and its health URL's answer."""
    from migrate.engine.workspace import local_state_missing, read_only_engine

    if local_state_missing((options or EngineOptions()).backend):  # read-only: create no state to find none
        return [
            TargetStatus(target=t, provider=s.provider, stack=stack_name(spec, t), deployed=False)
            for t, s in spec.targets.items()
        ]
    with read_only_engine():
        return _status(spec, options, check_health)


def _status(spec: ServiceSpec, options: EngineOptions | None, check_health: bool) -> list[TargetStatus]:
    from pulumi import automation as auto

    ws = workspace(spec, options)
    try:
        summaries = {summary.name.rsplit("/", 1)[-1]: summary for summary in ws.list_stacks()}
    except auto.CommandError as exc:
        raise engine_error(exc, spec, "*") from None
    report: list[TargetStatus] = []
    for target, settings in spec.targets.items():
        summary = summaries.get(target)
        entry = TargetStatus(
            target=target,
            provider=settings.provider,
            stack=stack_name(spec, target),
            deployed=bool(summary and summary.resource_count),
        )
        if summary is not None:
            entry.resources = summary.resource_count or 0
            entry.last_update = summary.last_update.isoformat() if summary.last_update else None
        if entry.deployed:
            try:
                from migrate.engine.stack_outputs import load_outputs

                entry.outputs = load_outputs(spec, target, options=options)
            except Exception as exc:  # one broken stack must not hide the others
                entry.error = str(exc)
            if entry.outputs is not None and check_health:
                entry.health = probe(entry.outputs.health_url)
        report.append(entry)
    return report


def probe(url: str, timeout: float = 3.0) -> str:
    """GET the health URL: ``healthy`` on a 2xx, else why not."""
    import httpx

    try:
        response = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        return f"unhealthy: {type(exc).__name__}: {exc}" if str(exc) else f"unhealthy: {type(exc).__name__}"
    if 200 <= response.status_code < 300:
        return "healthy"
    return f"unhealthy: HTTP {response.status_code}"


def outputs_from_values(spec: ServiceSpec, target: str, values: dict[str, Any]) -> TargetOutputs:
    from migrate.outputs import SECRET_OUTPUTS, TargetOutputs
    from migrate.redact import register_secret

    for key in (*SECRET_OUTPUTS, "database_admin_url"):
        if isinstance(values.get(key), str):
            register_secret(values[key])
    return TargetOutputs.from_stack(target, spec.target(target).provider, values)
