"""``migrate plan | up | destroy | status | unlock``: targets through the real Pulumi engine."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from migrate.cli.common import DEFAULT_SPEC, JsonOption, Output, SpecOption, load

if TYPE_CHECKING:
    from migrate.engine.events import EventLog
    from migrate.engine.workspace import EngineOptions
    from migrate.spec.model import ServiceSpec

T = TypeVar("T")

BackendOption = Annotated[
    str | None,
    typer.Option("--backend", help="State backend URL (default: PULUMI_BACKEND_URL, else file://$MIGRATE_HOME/state)."),
]
RefreshOption = Annotated[
    bool, typer.Option("--refresh", help="Reconcile the state with what really runs first (after a crash).")
]


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
    app.command("up")(up)
    app.command("destroy")(destroy)
    app.command("status")(status)
    app.command("unlock")(unlock)


def _start(json_output: bool, spec_path: Path, backend: str | None) -> tuple[Output, ServiceSpec, EngineOptions]:
    """What every command here starts from: its output, the spec, and the engine's options."""
    from migrate.engine.workspace import EngineOptions

    out = Output(json_output)
    loaded = load(spec_path)
    # The app's code sits beside its spec: local processes run there.
    return out, loaded, EngineOptions(backend=backend, app_dir=spec_path.resolve().parent)


def _watched(out: Output, title: str, work: Callable[[EventLog], T]) -> tuple[T, EventLog, float]:
    """``work`` given the engine's event log, its progress drawn on stderr: what it returned,
    the log (what changed) and the seconds it took."""
    from migrate.engine.events import EventLog, ProgressDisplay

    started = time.monotonic()
    with ProgressDisplay(out.stderr, title) as display:
        events = EventLog(forward=display)
        value = work(events)
    return value, events, time.monotonic() - started


def plan(
    to: Annotated[str, typer.Option("--to", help="The target to plan for.")],
    spec: SpecOption = DEFAULT_SPEC,
    backend: BackendOption = None,
    refresh: RefreshOption = False,
    json_output: JsonOption = False,
) -> None:
    """Preview what `up` would create, update or delete on a target (changes nothing)."""
    from migrate.engine import stack

    out, loaded, options = _start(json_output, spec, backend)
    result = stack.preview(loaded, to, refresh=refresh, options=options)
    out.emit({"ok": True, **result.to_json()})
    changing = [step for step in result.steps if step.op != "same"]
    for step in changing:
        out.human.print(f"  {_SYMBOL.get(step.op, '?')} {step.op:<8} {step.name} ({step.type})", markup=False)
    summary = ", ".join(f"{count} to {op}" for op, count in sorted(result.changes.items()) if op != "same")
    unchanged = result.changes.get("same", 0)
    out.human.print(
        f"plan {to}: {summary or 'no changes'}" + (f" ({unchanged} unchanged)" if unchanged else ""), markup=False
    )


_SYMBOL = {
    "create": "+",
    "update": "~",
    "delete": "-",
    "replace": "±",
    "create-replacement": "±",
    "delete-replaced": "-",
    "read": ">",
    "refresh": "~",
}


def up(
    to: Annotated[str, typer.Option("--to", help="The target to deploy.")],
    spec: SpecOption = DEFAULT_SPEC,
    backend: BackendOption = None,
    refresh: RefreshOption = False,
    json_output: JsonOption = False,
) -> None:
    """Create or update every resource of a target; print its outputs (secrets hidden)."""
    from migrate.engine import stack

    out, loaded, options = _start(json_output, spec, backend)
    outputs, events, seconds = _watched(
        out, f"up {to}", lambda log: stack.up(loaded, to, on_event=log, refresh=refresh, options=options)
    )
    changes = {op: n for op, n in events.changes().items() if op != "same"}
    out.emit(
        {"ok": True, "target": to, "changes": changes, "seconds": round(seconds, 2), "outputs": outputs.public_view()}
    )
    done = ", ".join(f"{n} {op}" for op, n in sorted(changes.items())) or "no changes"
    out.human.print(f"up {to}: {done} in {seconds:.1f}s", markup=False)
    _print_outputs(out, outputs.public_view())


def _print_outputs(out: Output, view: dict[str, Any]) -> None:
    for key, value in view.items():
        if value not in (None, {}, []) and key not in ("target", "provider"):
            out.human.print(f"  {key}: {value}", markup=False)


def destroy(
    target: Annotated[str, typer.Option("--target", "-t", help="The target to tear down.")],
    spec: SpecOption = DEFAULT_SPEC,
    backend: BackendOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Delete every resource of a target and its stack (local targets leave nothing behind)."""
    from migrate.engine import stack
    from migrate.errors import InputError

    out, loaded, options = _start(json_output, spec, backend)
    from providers.registry import hosting_adapter

    provider = loaded.target(target).provider
    if not yes:
        if sys.stdin.isatty():
            typer.confirm(f"destroy every resource of {target} ({provider})?", abort=True, err=True)
        elif not hosting_adapter(provider).supports.disposable:
            raise InputError(f"destroying {target} ({provider}) needs --yes when not run interactively")
    existed, events, seconds = _watched(
        out, f"destroy {target}", lambda log: stack.destroy(loaded, target, on_event=log, options=options)
    )
    deleted = events.changes().get("delete", 0)
    out.emit({"ok": True, "target": target, "was_deployed": existed, "deleted": deleted, "seconds": round(seconds, 2)})
    if existed:
        out.human.print(f"destroy {target}: {deleted} deleted in {seconds:.1f}s; stack removed", markup=False)
    else:
        out.human.print(f"destroy {target}: not deployed, nothing to do", markup=False)


def status(
    spec: SpecOption = DEFAULT_SPEC,
    backend: BackendOption = None,
    health: Annotated[bool, typer.Option("--health/--no-health", help="GET each health URL.")] = True,
    json_output: JsonOption = False,
) -> None:
    """Every target: deployed or not, its addresses and health."""
    from rich.table import Table

    from migrate.engine import stack

    out, loaded, options = _start(json_output, spec, backend)
    report = stack.status(loaded, options=options, check_health=health)
    out.emit({"ok": True, "targets": [entry.to_json() for entry in report]})
    table = Table("target", "provider", "deployed", "resources", "address", "health", box=None)
    for entry in report:
        address = ", ".join(entry.outputs.public_addresses) if entry.outputs else ""
        table.add_row(
            entry.target,
            entry.provider,
            "yes" if entry.deployed else "no",
            str(entry.resources or ""),
            address,
            entry.error or entry.health or "",
        )
    out.human.print(table)


def unlock(
    target: Annotated[str, typer.Option("--target", "-t", help="The target whose stack is locked.")],
    spec: SpecOption = DEFAULT_SPEC,
    backend: BackendOption = None,
    json_output: JsonOption = False,
) -> None:
    """Clear a stale stack lock left by a killed run (only when no run is active)."""
    from migrate.engine import stack

    out, loaded, options = _start(json_output, spec, backend)
    stack.unlock(loaded, target, options=options)
    out.emit({"ok": True, "target": target})
    out.human.print(f"unlocked the stack of {target}", markup=False)
