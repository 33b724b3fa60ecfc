"""``migrate dns``: plan, swing, verify, roll back, evacuate a zone, check delegation.

A thin layer over ``migrate.dns``: parse options, call the API, print tables or --json.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from migrate.cli.common import DEFAULT_SPEC, JsonOption, Output, SpecOption, load
from migrate.errors import EXIT_FAILED, InputError
from migrate.gcpause import paused_gc

if TYPE_CHECKING:
    from migrate.outputs import TargetOutputs
    from migrate.spec.model import ServiceSpec

dns_app = typer.Typer(
    help="Swing DNS to a target, verify it at every nameserver, roll back, evacuate a zone.", no_args_is_help=True
)
sandbox_app = typer.Typer(help="The local sandbox's DNS servers (dns_providers with sandbox:).", no_args_is_help=True)
dns_app.add_typer(sandbox_app, name="sandbox")

ToOption = Annotated[str | None, typer.Option("--to", help="Target to point the records at.")]
OutputsOption = Annotated[
    Path | None,
    typer.Option("--outputs", help="JSON file of the target's outputs (instead of its stack)."),
]
AddressOption = Annotated[
    list[str] | None,
    typer.Option("--address", help="Manual swing: the address(es) to point at (repeatable)."),
]
HealthOption = Annotated[str | None, typer.Option("--health-url", help="Health URL to check (overrides outputs).")]


def register(app: typer.Typer) -> None:
    from migrate.cli import dns_delegate_cmd

    dns_delegate_cmd.add_to(dns_app)
    app.add_typer(dns_app, name="dns")


def target_outputs(
    spec: ServiceSpec,
    to: str | None,
    outputs_file: Path | None,
    addresses: list[str] | None,
    health_url: str | None = None,
) -> TargetOutputs:
    """The target's outputs: --address, --outputs FILE, or the deployed stack."""
    from migrate.outputs import TargetOutputs

    if addresses:
        return TargetOutputs(
            target=to or "manual",
            provider="manual",
            public_hostname=None,
            public_addresses=addresses,
            health_url=health_url or "",
        )
    if outputs_file is not None:
        outputs = TargetOutputs.from_file(outputs_file, "--outputs", target=to)
        if not outputs.public_addresses and not outputs.public_hostname:
            raise InputError(f"--outputs {outputs_file}: no public_addresses or public_hostname to point DNS at")
    else:
        if not to:
            raise InputError("give --to TARGET (or --address IP, or --outputs FILE)")
        spec.target(to)
        try:
            from migrate.engine.stack_outputs import load_outputs
        except ImportError:
            raise InputError(
                f"no outputs for target {to!r}: deploy it first, or give --outputs FILE or --address IP"
            ) from None
        outputs = load_outputs(spec, to)
    if health_url is not None:
        outputs = outputs.model_copy(update={"health_url": health_url})
    return outputs


def _emit(out: Output, result: Any) -> None:
    """The --json document of a result (built only in --json mode: it can list 10,000s of
    changes)."""
    if out.json_mode:
        with paused_gc():
            out.emit(result.to_json())


@contextmanager
def _progress(out: Output) -> Iterator[Callable[[str, int, int], None]]:
    """A progress display on stderr while the block runs; yields the callback that feeds it."""
    progress = out.progress()
    tasks: dict[str, Any] = {}

    def callback(what: str, done: int, total: int) -> None:
        if what not in tasks:
            tasks[what] = progress.add_task(what, total=total)
        progress.update(tasks[what], completed=done, total=total)

    with progress:
        yield callback


# Rows per provider (rich takes ~2 ms a row): a swing of thousands of records is summarised;
# --json has every change.
TABLE_ROWS = 12


def _plan_table(out: Output, result: Any) -> None:
    from rich.table import Table

    table = Table(title=f"DNS changes for {result.zone} -> {result.target}")
    for column in ("provider", "name", "type", "old", "new", "ttl"):
        table.add_column(column)
    for p in result.providers:
        if p.plan is None:
            table.add_row(p.provider, "-", "-", "-", f"[red]{p.error}[/]", "-")
            continue
        if not p.plan.changes:
            table.add_row(p.provider, "(no change)", "", "", "", "")
        shown = p.plan.changes[:TABLE_ROWS]
        for row in p.plan.rows(shown):
            table.add_row(*row)
        if len(p.plan.changes) > len(shown):
            table.add_row(
                p.provider, f"… {len(p.plan.changes) - len(shown)} more change(s)", "", "", "", "", end_section=True
            )
    out.human.print(table)
    out.human.print(f"Resolvers may keep the old answers for up to {result.old_ttl}s after the change (the old TTL).")


@dns_app.command("plan")
def plan_cmd(
    spec_path: SpecOption = DEFAULT_SPEC,
    to: ToOption = None,
    outputs_file: OutputsOption = None,
    address: AddressOption = None,
    save: Annotated[
        Path | None,
        typer.Option("--out", help="Save the exact change set to FILE, for `dns swing --plan FILE`."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Show the record changes a swing to TARGET would make at each DNS provider."""
    from migrate.dns import saved_plan
    from migrate.dns.desired import desired_rrsets, owned_keys
    from migrate.dns.swing import plan

    out = Output(json_output)
    spec = load(spec_path)
    outputs = target_outputs(spec, to, outputs_file, address)
    desired, owned = desired_rrsets(spec, outputs), owned_keys(spec)
    result = plan(spec, outputs, wanted=(desired, owned))
    if save is not None and result.ok:
        plans = [p.plan for p in result.providers if p.plan is not None]
        saved = saved_plan.from_plans(spec.zone, outputs.target, outputs.health_url, owned, desired, plans)
        try:
            saved_plan.write(saved, save)
        except OSError as exc:
            raise InputError(f"{save}: cannot write the plan: {exc.strerror}") from None
    _emit(out, result)
    _plan_table(out, result)
    if save is not None and result.ok:
        out.human.print(f"plan saved to {save}: apply exactly it with `migrate dns swing --plan {save}`")
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)


@dns_app.command("swing")
def swing_cmd(
    spec_path: SpecOption = DEFAULT_SPEC,
    to: ToOption = None,
    outputs_file: OutputsOption = None,
    address: AddressOption = None,
    health_url: HealthOption = None,
    prepare: Annotated[bool, typer.Option(help="Lower TTLs first and wait out the old TTL.")] = False,
    prepare_ttl: Annotated[int | None, typer.Option(help="TTL for --prepare.")] = None,
    force: Annotated[bool, typer.Option(help="Swing even if the target's health check fails.")] = False,
    allow_unexpected: Annotated[bool, typer.Option(help="Apply changes outside the expected swing set.")] = False,
    max_share: Annotated[float, typer.Option(help="Largest share of the zone unexpected changes may touch.")] = 0.1,
    then_verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Then verify at every authoritative nameserver, as `dns verify` does (exit 1 if one disagrees).",
        ),
    ] = False,
    verify_timeout: Annotated[float, typer.Option(help="With --verify: seconds to wait for all to agree.")] = 60.0,
    plan_file: Annotated[
        Path | None,
        typer.Option(
            "--plan", help="Apply exactly this saved plan (`dns plan --out`); refused if a record moved since."
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Point the owned records at TARGET at every DNS provider (journaled first)."""
    from migrate.dns import saved_plan
    from migrate.dns.swing import swing

    out = Output(json_output)
    spec = load(spec_path)
    saved = None
    if plan_file is not None:
        saved = saved_plan.read(plan_file)
        if to and to != saved.target:
            raise InputError(f"{plan_file} is a plan for target {saved.target!r}, not for --to {to!r}")
        if outputs_file or address:
            raise InputError("--plan applies the saved plan: give no --outputs or --address with it")
        outputs = None
        if health_url is not None:
            saved.health_url = health_url
    else:
        outputs = target_outputs(spec, to, outputs_file, address, health_url)
    with _progress(out) as callback:
        result = swing(
            spec,
            outputs,
            prepare=prepare,
            prepare_ttl=prepare_ttl,
            force=force,
            allow_unexpected=allow_unexpected,
            max_share=max_share,
            progress=callback,
            saved=saved,
            announce=lambda message: out.stderr.print(message),
        )
    verified = None
    if then_verify and result.ok:
        from migrate.dns.verify import verify

        with _progress(out) as callback:
            if saved is not None:
                from migrate.dns.desired import owned_keys

                expected = (owned_keys(spec), saved.desired)
                verified = verify(spec, expected=expected, timeout=verify_timeout, progress=callback)
            else:
                verified = verify(spec, outputs=outputs, timeout=verify_timeout, progress=callback)
    if out.json_mode:
        with paused_gc():
            document = result.to_json()
            if verified is not None:
                document["verify"] = verified.to_json()
            out.emit(document)
    _plan_table(out, result)
    for p in result.providers:
        mark = "[green]applied[/]" if p.applied else f"[red]FAILED: {p.error}[/]"
        out.human.print(f"{p.provider}: {mark}")
        if p.served_new is not None and p.plan is not None:
            missing = ", ".join(p.not_served[:10]) + (" …" if len(p.not_served) > 10 else "")
            out.human.print(
                f"  read back: serves {p.served_new} of {len(p.plan.changes)} planned change(s)"
                + (f"; not yet: {missing}" if missing else "")
            )
    out.human.print(
        f"swing {result.swing_id}{' (resumed)' if result.resumed else ''}: "
        f"{result.changes} change(s) in {result.elapsed_seconds:.2f}s"
    )
    if not result.ok:
        out.stderr.print(
            "[red]error:[/] some DNS providers did not get the change (see above); "
            "the journal records which did. Re-run the same swing to finish it, "
            "or `migrate dns rollback`."
        )
        raise typer.Exit(EXIT_FAILED)
    if verified is not None:
        _verify_table(out, spec.zone, verified)
        if not verified.ok:
            raise typer.Exit(EXIT_FAILED)


@dns_app.command("verify")
def verify_cmd(
    spec_path: SpecOption = DEFAULT_SPEC,
    to: ToOption = None,
    outputs_file: OutputsOption = None,
    address: AddressOption = None,
    nameserver: Annotated[list[str] | None, typer.Option("--nameserver", help="Extra server HOST[:PORT].")] = None,
    resolver: Annotated[list[str] | None, typer.Option("--resolver", help="Resolver HOST[:PORT] to check too.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for all to agree.")] = 60.0,
    ns_port: Annotated[int, typer.Option(help="Port of nameservers found by NS records.")] = 53,
    json_output: JsonOption = False,
) -> None:
    """Ask every authoritative nameserver until all serve the new records (exit 1 if not)."""

    from migrate.dns.verify import verify

    out = Output(json_output)
    spec = load(spec_path)
    outputs = target_outputs(spec, to, outputs_file, address) if (to or outputs_file or address) else None
    with _progress(out) as callback:
        result = verify(
            spec,
            outputs=outputs,
            nameservers=nameserver or [],
            resolvers=resolver or [],
            timeout=timeout,
            ns_port=ns_port,
            progress=callback,
        )
    _emit(out, result)
    _verify_table(out, spec.zone, result)
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)


def _verify_table(out: Output, zone: str, result: Any) -> None:
    from rich.table import Table

    table = Table(title=f"{zone}: what each nameserver serves")
    for column in ("server", "found by", "result", "after", "detail"):
        table.add_column(column)
    for s in result.servers:
        status = "[green]ok[/]" if s.ok else "[red]DISAGREES[/]"
        after = f"{s.matched_after:.2f}s" if s.matched_after is not None else "-"
        detail = s.error or "; ".join(s.mismatches[:3]) or f"{s.checked} record(s) by {s.method}"
        table.add_row(s.server.where, s.server.source, status, after, detail)
    out.human.print(table)


@dns_app.command("rollback")
def rollback_cmd(
    spec_path: SpecOption = DEFAULT_SPEC,
    swing_id: Annotated[str | None, typer.Option("--swing", help="Swing id to undo.")] = None,
    force: Annotated[bool, typer.Option(help="Also overwrite records edited since the swing.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Restore the records each DNS provider served before the last swing."""
    from migrate.dns.swing import rollback

    out = Output(json_output)
    spec = load(spec_path)
    with _progress(out) as callback:
        result = rollback(spec, swing_id=swing_id, progress=callback, force=force)
    _emit(out, result)
    _plan_table(out, result)
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)


@dns_app.command("status")
def status_cmd(
    spec_path: SpecOption = DEFAULT_SPEC,
    to: ToOption = None,
    outputs_file: OutputsOption = None,
    records: Annotated[bool, typer.Option("--records", help="List every owned record (default: counts).")] = False,
    json_output: JsonOption = False,
) -> None:
    """What each DNS provider serves now for the owned records, and which target that is."""
    from rich.table import Table

    from migrate.dns.swing import status

    out = Output(json_output)
    spec = load(spec_path)
    known = []
    if to or outputs_file:
        known.append(target_outputs(spec, to, outputs_file, None))
    try:
        from migrate.engine.outputs import load_outputs

        for name in spec.targets:
            try:
                known.append(load_outputs(spec, name))
            except Exception:
                continue
    except ImportError:
        pass
    rows = status(spec, known_outputs=known)
    out.emit(
        {
            "ok": all(r.error is None for r in rows),
            "zone": spec.zone,
            "providers": [r.to_json(records=records) for r in rows],
        }
    )
    table = Table(title=f"{spec.zone} at each DNS provider")
    for column in ("provider", "state", "points at", "records"):
        table.add_column(column)
    for r in rows:
        detail = r.summary()
        if records and not r.error:
            detail = "\n".join(f"{x.name} {x.type} {x.ttl} {', '.join(x.values)}" for x in r.records)
        state = {"unreachable": "[red]unreachable[/]", "half-swung": "[yellow]half-swung[/]"}.get(r.state, r.state)
        table.add_row(r.provider, state, r.points_at or "-", detail)
    out.human.print(table)
    if any(r.error for r in rows):
        raise typer.Exit(EXIT_FAILED)


@dns_app.command("evacuate")
def evacuate_cmd(
    source: Annotated[str, typer.Option("--from", help="DNS provider to copy from.")],
    destination: Annotated[str, typer.Option("--to", help="DNS provider to copy to.")],
    spec_path: SpecOption = DEFAULT_SPEC,
    prune: Annotated[bool, typer.Option(help="Delete records the source does not have.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Show what would be copied; change nothing.")] = False,
    max_share: Annotated[
        float, typer.Option(help="Largest share of the destination's RRsets --prune may delete.")
    ] = 0.1,
    json_output: JsonOption = False,
) -> None:
    """Copy the whole zone to another DNS provider, verify it, print the registrar change."""
    from migrate.dns.evacuate import evacuate

    out = Output(json_output)
    spec = load(spec_path)
    with _progress(out) as callback:
        result = evacuate(
            spec, source, destination, prune=prune, dry_run=dry_run, max_share=max_share, progress=callback
        )
    _emit(out, result)
    assert result.plan is not None
    out.human.print(
        f"{result.copied} RRsets to copy from {source} to {destination}; "
        f"{len(result.plan.changes)} change(s) "
        f"{'planned' if dry_run else 'applied'} in {result.elapsed_seconds:.2f}s"
    )
    for line in result.skipped:
        out.human.print(f"  not copied: {line}")
    if dry_run:
        out.human.print(str(result.plan))
        return
    if result.mismatches:
        for line in result.mismatches[:20]:
            out.human.print(f"[red]  mismatch:[/] {line}")
        raise typer.Exit(EXIT_FAILED)
    out.human.print(f"[green]verified:[/] all {result.copied} RRsets served by {destination}")
    out.human.print(
        f"At the registrar, set the nameservers of {spec.zone} to: "
        + ", ".join(n.rstrip(".") for n in result.nameservers)
    )
    for registrar in spec.registrars:
        out.human.print(f"Or let migrate do it: migrate dns delegate --registrar {registrar} --to {destination}")
    out.human.print(f"Then check: migrate dns delegation --to {destination}")


@dns_app.command("delegation")
def delegation_cmd(
    spec_path: SpecOption = DEFAULT_SPEC,
    to: Annotated[
        str | None,
        typer.Option(
            "--to", help="DNS provider whose nameservers should be delegated to (default: the apex NS it serves)."
        ),
    ] = None,
    ns: Annotated[list[str] | None, typer.Option("--ns", help="Expected nameserver name.")] = None,
    parent: Annotated[list[str] | None, typer.Option("--parent", help="Parent zone server HOST[:PORT].")] = None,
    json_output: JsonOption = False,
) -> None:
    """Check which nameservers the parent zone delegates the zone to."""
    from migrate.dns.parent_zone import check_delegation
    from migrate.dns.swing import providers_for

    out = Output(json_output)
    spec = load(spec_path)
    expected = list(ns or [])
    if not expected:
        provider = providers_for(spec, [to] if to else spec.dns.providers[:1])[0]
        apex = provider.records(spec.zone).get((spec.zone + ".", "NS"))
        expected = list(apex.values) if apex else []
    if not expected:
        raise InputError("no expected nameservers: give --ns NAME or --to DNSPROVIDER")
    result = check_delegation(spec.zone, expected, parent or [])
    _emit(out, result)
    print_delegation(out, result)
    out.human.print(f"expected: {', '.join(result.expected)}")
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)


def print_delegation(out: Output, result: Any, *, prefix: str = "", differs: str = "[red]DIFFERS[/]") -> None:
    """One line per parent zone server: what it delegates to, or its error."""
    from rich.markup import escape

    for server, names in result.parents.items():
        mark = "[green]ok[/]" if sorted(names) == result.expected else differs
        out.human.print(f"{prefix}{server}: {mark} delegates to {', '.join(names) or 'nothing'}")
    for server, error in result.errors.items():
        out.human.print(f"{prefix}{server}: [red]error[/] {escape(error)}")


def _sandbox_print(out: Output, rows: list[Any]) -> None:
    out.emit({"ok": True, "servers": [r.to_json() for r in rows]})
    for r in rows:
        state = "[green]running[/]" if r.running else "stopped"
        out.human.print(f"{r.provider}: {r.kind} on {r.address}:{r.port} {state}")


@sandbox_app.command("up")
def sandbox_up(spec_path: SpecOption = DEFAULT_SPEC, json_output: JsonOption = False) -> None:
    """Start the sandbox DNS servers (idempotent)."""
    from migrate.dns import sandbox_servers

    out = Output(json_output)
    _sandbox_print(out, sandbox_servers.up(load(spec_path)))


@sandbox_app.command("down")
def sandbox_down(spec_path: SpecOption = DEFAULT_SPEC, json_output: JsonOption = False) -> None:
    """Stop the sandbox DNS servers."""
    from migrate.dns import sandbox_servers

    out = Output(json_output)
    _sandbox_print(out, sandbox_servers.down(load(spec_path)))


@sandbox_app.command("status")
def sandbox_status(spec_path: SpecOption = DEFAULT_SPEC, json_output: JsonOption = False) -> None:
    """Which sandbox DNS servers run and answer."""
    from migrate.dns import sandbox_servers

    out = Output(json_output)
    _sandbox_print(out, sandbox_servers.status(load(spec_path)))
