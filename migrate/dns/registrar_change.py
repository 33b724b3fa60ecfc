"""Move a domain's delegation at its registrar: the last step of a zone evacuation.

``plan_delegation`` reads what the registrar delegates to now and what it should delegate to
(the apex NS of a DNS provider, names given by hand, or the journaled previous set for a
rollback); ``apply_delegation`` journals the previous nameservers (fsync'd) before asking the
registrar for the change, then checks what the parent zone's servers hand out.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrate.dns.journal import Journal
from migrate.errors import InputError, MigrateError, RegistrarError
from migrate.home import migrate_home
from providers.registrarbase import Nameserver, Registrar, StatusCallback, in_zone, make_registrar, same_names

if TYPE_CHECKING:
    from migrate.dns.parent_zone import DelegationResult
    from migrate.spec.model import ServiceSpec


class DelegationJournal(Journal):
    """``$MIGRATE_HOME/journal/registrar/<zone>.jsonl``: nameservers before each change."""

    id_field = "change"

    def __init__(self, zone: str, home: Path | None = None) -> None:
        super().__init__(zone, path=(home or migrate_home()) / "journal" / "registrar" / f"{zone.rstrip('.')}.jsonl")

    def last_change(self, registrar: str) -> tuple[str, list[Nameserver]] | None:
        """(change id, nameservers before it) of the last change the registrar may have made.

        Applied, or cut short (a crash, an operation still running at the timeout): its
        "before" is what the domain was delegated to until then. A change the registrar
        refused outright changed nothing and is passed over.
        """
        starts: dict[str, list[Nameserver]] = {}
        for entry in self.entries():
            if entry["event"] == "start" and entry.get("registrar") == registrar:
                starts[entry["id"]] = [Nameserver.from_json(n) for n in entry["before"]]
            elif entry["event"] == "failed" and entry["id"] in starts and not entry.get("maybe_applied", True):
                del starts[entry["id"]]
        if not starts:
            return None
        change_id = list(starts)[-1]
        return change_id, starts[change_id]


@dataclass
class DelegatePlan:
    zone: str
    registrar: Registrar
    source: str
    before: list[Nameserver]
    wanted: list[Nameserver]
    warnings: list[str] = field(default_factory=list)

    @property
    def needed(self) -> bool:
        if not same_names(self.before, self.wanted):
            return True
        if not self.registrar.capabilities.glue:
            return False
        return {n.name: n.glue for n in self.before if n.glue} != {n.name: n.glue for n in self.wanted if n.glue}

    def to_json(self) -> dict[str, Any]:
        return {
            "zone": self.zone,
            "registrar": self.registrar.name,
            "registrar_kind": self.registrar.kind,
            "source": self.source,
            "before": [n.to_json() for n in self.before],
            "after": [n.to_json() for n in self.wanted],
            "change_needed": self.needed,
            "warnings": self.warnings,
        }


@dataclass
class DelegateResult:
    plan: DelegatePlan
    dry_run: bool = False
    changed: bool = False
    change_id: str | None = None
    operation: str | None = None
    delegation: DelegationResult | None = None
    delegation_error: str | None = None
    waited: bool = False
    elapsed_seconds: float = 0.0

    @property
    def delegated(self) -> bool:
        return self.delegation is not None and self.delegation.ok

    @property
    def ok(self) -> bool:
        """The registrar took the change; with --wait, the parent zone shows it too."""
        return not self.waited or self.delegated

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            **self.plan.to_json(),
            "dry_run": self.dry_run,
            "changed": self.changed,
            "change_id": self.change_id,
            "operation": self.operation,
            "delegation": self.delegation.to_json() if self.delegation else None,
            "delegation_error": self.delegation_error,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }


def registrar_for(spec: ServiceSpec, name: str) -> Registrar:
    try:
        settings = spec.registrars[name]
    except KeyError:
        known = ", ".join(sorted(spec.registrars)) or "none"
        raise InputError(f"unknown registrar {name!r} (the spec's registrars: {known})") from None
    return make_registrar(name, settings)


def provider_nameservers(spec: ServiceSpec, provider_name: str) -> list[Nameserver]:
    """The apex NS a DNS provider serves for the zone, with addresses of in-zone ones."""
    from migrate.dns.swing import providers_for

    provider = providers_for(spec, [provider_name])[0]
    try:
        records = provider.delegation(spec.zone)
    finally:
        provider.close()
    apex = spec.zone.rstrip(".").lower() + "."
    ns = records.get((apex, "NS"))
    if ns is None or not ns.values:
        raise MigrateError(f"DNS provider {provider_name} serves no NS records for {spec.zone}: nothing to delegate to")
    return sorted(
        Nameserver.make(
            host, [v for t in ("A", "AAAA") for v in (records[(host, t)].values if (host, t) in records else ())]
        )
        for host in ns.values
    )


def plan_delegation(
    spec: ServiceSpec,
    registrar_name: str,
    *,
    to: str | None = None,
    names: Sequence[str] = (),
    rollback: bool = False,
    home: Path | None = None,
) -> DelegatePlan:
    """What the registrar delegates to now and what it will delegate to (changes nothing)."""
    if sum((to is not None, bool(names), rollback)) != 1:
        raise InputError("give exactly one of --to DNSPROVIDER, --ns NAME or --rollback")
    zone = spec.zone
    registrar = registrar_for(spec, registrar_name)
    if rollback:
        found = DelegationJournal(zone, home).last_change(registrar_name)
        if found is None:
            raise InputError(
                f"no journaled nameserver change at registrar {registrar_name} for {zone}: nothing to roll back"
            )
        change_id, wanted = found
        source = f"rollback of {change_id}"
    elif to is not None:
        wanted, source = provider_nameservers(spec, to), f"DNS provider {to}"
    else:
        wanted, source = sorted({Nameserver.make(n) for n in names}), "--ns"
    before = registrar.nameservers(zone)  # a bad token fails here, before anything changes
    caps = registrar.capabilities
    if not caps.min_nameservers <= len(wanted) <= caps.max_nameservers:
        raise InputError(
            f"registrar {registrar_name} takes {caps.min_nameservers} to "
            f"{caps.max_nameservers} nameservers; {source} gives {len(wanted)}"
        )
    if not caps.glue:  # what the registrar will hold: names only
        wanted = [Nameserver(n.name) for n in wanted]
    warnings = []
    for ns in wanted:
        if not in_zone(ns.name, zone):
            continue
        if caps.glue and not ns.glue:
            raise InputError(
                f"{ns.name} is inside {zone} and needs glue addresses, but "
                f"{source} gives none (serve its A/AAAA record in the zone)"
            )
        if not caps.glue:
            warnings.append(
                f"{ns.name.rstrip('.')} is inside {zone}: its glue (host object) "
                "must already "
                f"exist at {registrar_name}; this adapter does not create it"
            )
    return DelegatePlan(zone, registrar, source, before, wanted, warnings)


def apply_delegation(
    plan: DelegatePlan,
    *,
    check: bool = True,
    parents: Sequence[str] = (),
    wait: float = 0.0,
    status: StatusCallback | None = None,
    home: Path | None = None,
) -> DelegateResult:
    """Journal the previous nameservers, change them, then look at the parent zone."""
    started = time.monotonic()
    result = DelegateResult(plan)
    if plan.needed:
        journal = DelegationJournal(plan.zone, home)
        change_id = journal.new_id()
        result.change_id = change_id
        journal.write(
            change_id,
            "start",
            kind="delegate",
            registrar=plan.registrar.name,
            source=plan.source,
            before=[n.to_json() for n in plan.before],
            wanted=[n.to_json() for n in plan.wanted],
        )
        try:
            result.operation = plan.registrar.set_nameservers(plan.zone, plan.wanted, status)
        except Exception as exc:
            maybe = not isinstance(exc, RegistrarError) or exc.maybe_applied
            journal.write(change_id, "failed", error=str(exc), maybe_applied=maybe)
            plan.registrar.close()
            raise
        journal.write(change_id, "applied", operation=result.operation)
        result.changed = True
    plan.registrar.close()
    if check:
        result.waited = wait > 0
        _check_parent(result, parents, wait, status)
    result.elapsed_seconds = time.monotonic() - started
    return result


def _check_parent(result: DelegateResult, parents: Sequence[str], wait: float, status: StatusCallback | None) -> None:
    """Ask the parent zone's servers until they hand out the new set (or ``wait`` passes)."""
    from migrate.dns.parent_zone import check_delegation

    names = [n.name for n in result.plan.wanted]
    deadline = time.monotonic() + wait
    while True:
        try:
            result.delegation = check_delegation(result.plan.zone, names, parents)
            result.delegation_error = None
        except MigrateError as exc:
            result.delegation_error = str(exc)
        if result.delegated or time.monotonic() >= deadline:
            return
        if status:
            status(f"waiting for the parent zone to delegate {result.plan.zone} to {', '.join(names)}")
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
