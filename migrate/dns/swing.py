"""Plan, swing, roll back and report the records a service owns at every DNS provider.

``swing`` journals what each provider served before touching it, applies the plan to all
providers (in parallel), records which got the change, and can be re-run to finish a
swing that a provider interrupted: the original "before" state is kept for rollback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from migrate.dns import rail
from migrate.dns.desired import desired_rrsets, owned_keys
from migrate.dns.journal import Journal, SwingRecord, rrset_row
from migrate.errors import HealthCheckError, InputError, MigrateError
from migrate.gcpause import paused_gc
from providers.dnsbase import (
    Change,
    DnsProvider,
    Key,
    Plan,
    ProgressCallback,
    RRset,
    make_provider,
)

if TYPE_CHECKING:
    from migrate.outputs import TargetOutputs
    from migrate.spec.model import ServiceSpec

T = TypeVar("T")
R = TypeVar("R")


def providers_for(spec: ServiceSpec, names: Sequence[str] | None = None) -> list[DnsProvider]:
    """Adapters for the spec's DNS providers (all of ``dns.providers`` by default)."""
    out = []
    for name in names or spec.dns.providers:
        try:
            settings = spec.dns_providers[name]
        except KeyError:
            known = ", ".join(sorted(spec.dns_providers)) or "none"
            raise InputError(f"unknown DNS provider {name!r} (the spec has: {known})") from None
        out.append(make_provider(name, settings))
    return out


def parallel(items: Sequence[T], work: Callable[[T], R]) -> list[R | BaseException]:
    """Run ``work`` on every item at once (providers are independent); keep errors as values."""

    def guarded(item: T) -> R | BaseException:
        try:
            return work(item)
        except Exception as exc:
            return exc

    if len(items) <= 1:
        return [guarded(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(8, len(items))) as pool:
        return list(pool.map(guarded, items))


def check_health(url: str, timeout: float = 5.0) -> None:
    """Refuse a target whose health URL does not answer 2xx."""
    import httpx

    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise HealthCheckError(
            f"target health check {url} failed: {type(exc).__name__}: {exc}; refusing to swing "
            f"(--force to swing anyway)"
        ) from None
    if not 200 <= response.status_code < 300:
        raise HealthCheckError(
            f"target health check {url} answered HTTP {response.status_code}; refusing to swing "
            f"(--force to swing anyway)"
        )


@dataclass
class ProviderResult:
    provider: str
    plan: Plan | None = None
    applied: bool = False
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "applied": self.applied,
            "error": self.error,
            "plan": self.plan.to_json() if self.plan else None,
        }


@dataclass
class SwingResult:
    swing_id: str | None
    target: str
    zone: str
    providers: list[ProviderResult] = field(default_factory=list)
    prepared: bool = False
    waited_seconds: float = 0.0
    elapsed_seconds: float = 0.0
    resumed: bool = False

    @property
    def ok(self) -> bool:
        return all(p.error is None for p in self.providers)

    @property
    def old_ttl(self) -> int:
        return max((p.plan.old_ttl for p in self.providers if p.plan), default=0)

    @property
    def changes(self) -> int:
        return sum(len(p.plan.changes) for p in self.providers if p.plan)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "swing_id": self.swing_id,
            "target": self.target,
            "zone": self.zone,
            "resumed": self.resumed,
            "prepared": self.prepared,
            "waited_seconds": round(self.waited_seconds, 3),
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "old_ttl": self.old_ttl,
            "changes": self.changes,
            "providers": [p.to_json() for p in self.providers],
        }


@paused_gc()
def plan(
    spec: ServiceSpec,
    outputs: TargetOutputs,
    *,
    providers: Sequence[DnsProvider] | None = None,
    wanted: tuple[list[RRset], list[Key]] | None = None,
) -> SwingResult:
    """What a swing to ``outputs`` would change at each provider; changes nothing.

    ``wanted``: the (desired RRsets, owned keys) when the caller has them already.
    """
    providers = list(providers) if providers is not None else providers_for(spec)
    desired, owned = wanted or (desired_rrsets(spec, outputs), owned_keys(spec))
    result = SwingResult(None, outputs.target, spec.zone)
    plans = parallel(providers, lambda p: p.plan(spec.zone, desired, owned))
    for provider, planned in zip(providers, plans, strict=True):
        if isinstance(planned, BaseException):
            result.providers.append(ProviderResult(provider.name, error=str(planned)))
        else:
            result.providers.append(ProviderResult(provider.name, plan=planned))
    return result


@paused_gc()
def swing(
    spec: ServiceSpec,
    outputs: TargetOutputs,
    *,
    prepare: bool = False,
    prepare_ttl: int | None = None,
    force: bool = False,
    allow_unexpected: bool = False,
    max_share: float = 0.1,
    providers: Sequence[DnsProvider] | None = None,
    journal: Journal | None = None,
    progress: ProgressCallback | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SwingResult:
    """Point the owned records at ``outputs`` at every DNS provider, journaled first.

    Raises ``HealthCheckError`` (unless ``force``), ``SafetyRailError`` or, when a
    provider cannot be read, ``MigrateError`` before anything changed. A provider that fails
    while applying does not stop the others: the result says which did not get the change,
    and running the same swing again finishes the job.
    """
    started = time.monotonic()
    if outputs.health_url and not force:
        check_health(outputs.health_url)
    providers = list(providers) if providers is not None else providers_for(spec)
    journal = journal or Journal(spec.zone)
    desired, owned = desired_rrsets(spec, outputs), owned_keys(spec)
    result = plan(spec, outputs, providers=providers, wanted=(desired, owned))
    unreadable = [p for p in result.providers if p.error]
    if unreadable:
        raise MigrateError(
            "cannot read the zone at "
            + "; ".join(f"{p.provider}: {p.error}" for p in unreadable)
            + " — nothing was changed"
        )
    for p in result.providers:
        assert p.plan is not None
        rail.check(p.plan, owned, allow_unexpected=allow_unexpected, max_share=max_share)

    swing_id, resumed = _open_swing(journal, "swing", outputs.target, desired, owned, befores=_befores(result, owned))
    result.swing_id, result.resumed = swing_id, resumed

    by_name = {p.name: p for p in providers}
    if prepare:
        result.waited_seconds = _prepare(spec, result, by_name, prepare_ttl, sleep, progress)
        result.prepared = True

    def apply_one(p: ProviderResult) -> None:
        assert p.plan is not None
        by_name[p.provider].apply(spec.zone, p.plan.changes, progress)

    outcomes = parallel([p for p in result.providers if p.plan and p.plan.changes], apply_one)
    applying = [p for p in result.providers if p.plan and p.plan.changes]
    for p, outcome in zip(applying, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            p.error = str(outcome)
    _journal_outcome(journal, swing_id, result)
    result.elapsed_seconds = time.monotonic() - started
    return result


def _journal_outcome(journal: Journal, swing_id: str, result: SwingResult) -> None:
    """Which providers got the change and which failed, and that the run ended: one append."""
    events: list[tuple[str, dict[str, Any]]] = []
    for p in result.providers:
        if p.error is None:
            p.applied = True
            events.append(("applied", {"provider": p.provider, "changes": len(p.plan.changes) if p.plan else 0}))
        else:
            events.append(("failed", {"provider": p.provider, "error": p.error}))
    events.append(("done", {"ok": result.ok}))
    journal.write_many(swing_id, events)


def _befores(result: SwingResult, owned: list[Key]) -> list[dict[str, Any]]:
    """One "before" entry per provider: the owned RRsets it serves now (what rollback restores)."""
    out = []
    for p in result.providers:
        assert p.plan is not None
        current = p.plan.current
        out.append({"provider": p.provider, "rrsets": [rrset_row(current[k]) for k in owned if k in current]})
    return out


def _open_swing(
    journal: Journal,
    kind: str,
    target: str,
    desired: list[RRset],
    owned: list[Key],
    rolls_back: str | None = None,
    befores: Sequence[dict[str, Any]] = (),
) -> tuple[str, bool]:
    """A new journal entry, or the unfinished swing to the same records (a re-run), with
    what each provider serves now: all in one durable append, before anything changes."""
    last = journal.last()
    if (
        last is not None
        and last.kind == kind
        and not last.ok
        and last.desired == desired
        and last.rolls_back == rolls_back
    ):
        journal.write_many(last.id, [("resume", {}), *(("before", b) for b in befores)])
        return last.id, True
    swing_id = journal.new_id()
    start = {
        "kind": kind,
        "target": target,
        "rolls_back": rolls_back,
        "desired": [rrset_row(r) for r in desired],
        "owned": [list(k) for k in owned],
    }
    journal.write_many(swing_id, [("start", start), *(("before", b) for b in befores)])
    return swing_id, False


def _prepare(
    spec: ServiceSpec,
    result: SwingResult,
    by_name: dict[str, DnsProvider],
    prepare_ttl: int | None,
    sleep: Callable[[float], None],
    progress: ProgressCallback | None,
) -> float:
    """Lower the owned records' TTLs (same values), then wait out the old TTL."""
    low = prepare_ttl or min(spec.dns.ttl, 60)
    wait = 0
    for p in result.providers:
        assert p.plan is not None
        lowered: list[Change] = []
        for change in p.plan.changes:
            if change.old is not None and change.old.ttl > low:
                lowered.append(Change(change.old, replace(change.old, ttl=low)))
                wait = max(wait, change.old.ttl)
        if lowered:
            by_name[p.provider].apply(spec.zone, lowered, progress)
            p.plan.changes = [
                Change(replace(c.old, ttl=low), c.new) if c.old is not None and c.old.ttl > low else c
                for c in p.plan.changes
            ]
    if wait:
        if progress:
            progress(f"waiting out the old TTL ({wait}s)", 0, wait)
        sleep(wait)
    return float(wait)


@paused_gc()
def rollback(
    spec: ServiceSpec,
    *,
    swing_id: str | None = None,
    providers: Sequence[DnsProvider] | None = None,
    journal: Journal | None = None,
    progress: ProgressCallback | None = None,
) -> SwingResult:
    """Restore what each provider served before the last swing (or ``swing_id``)."""
    journal = journal or Journal(spec.zone)
    record = _swing_to_undo(journal, swing_id)
    names = list(record.before)
    providers = list(providers) if providers is not None else providers_for(spec, names)
    by_name = {p.name: p for p in providers if p.name in record.before}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise InputError(f"the journal names DNS provider(s) not in the spec: {', '.join(missing)}")
    owned = record.owned
    plans = parallel(list(by_name.values()), lambda p: p.plan(spec.zone, record.before[p.name], owned))
    result = SwingResult(None, f"before {record.id}", spec.zone)
    for provider, planned in zip(by_name.values(), plans, strict=True):
        if isinstance(planned, BaseException):
            raise MigrateError(f"cannot read the zone at {provider.name}: {planned}; nothing was rolled back")
        result.providers.append(ProviderResult(provider.name, plan=planned))
    for p in result.providers:
        assert p.plan is not None
        rail.check(p.plan, owned)
    all_before = sorted({r for rs in record.before.values() for r in rs})
    rid, resumed = _open_swing(
        journal, "rollback", result.target, all_before, owned, rolls_back=record.id, befores=_befores(result, owned)
    )
    result.swing_id, result.resumed = rid, resumed
    applying = [p for p in result.providers if p.plan and p.plan.changes]

    def apply_one(p: ProviderResult) -> None:
        assert p.plan is not None
        by_name[p.provider].apply(spec.zone, p.plan.changes, progress)

    for p, outcome in zip(applying, parallel(applying, apply_one), strict=True):
        if isinstance(outcome, BaseException):
            p.error = str(outcome)
    _journal_outcome(journal, rid, result)
    return result


def _swing_to_undo(journal: Journal, swing_id: str | None) -> SwingRecord:
    swings = journal.swings()
    if swing_id is not None:
        for s in swings:
            if s.id == swing_id:
                return s
        raise InputError(f"no swing {swing_id!r} in {journal.path}")
    undone = {s.rolls_back for s in swings if s.kind == "rollback" and s.ok}
    for s in reversed(swings):
        if s.kind == "swing" and s.id not in undone and s.before:
            return s
    raise InputError(f"nothing to roll back: no swing journaled in {journal.path}")


@dataclass
class ProviderStatus:
    provider: str
    records: list[RRset] = field(default_factory=list)
    points_at: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "points_at": self.points_at,
            "error": self.error,
            "records": [r.to_json() for r in self.records],
        }


@paused_gc()
def status(
    spec: ServiceSpec,
    *,
    known_outputs: Sequence[TargetOutputs] = (),
    providers: Sequence[DnsProvider] | None = None,
    journal: Journal | None = None,
) -> list[ProviderStatus]:
    """The owned records each provider serves now, and which target they point at."""
    providers = list(providers) if providers is not None else providers_for(spec)
    journal = journal or Journal(spec.zone)
    owned = owned_keys(spec)
    candidates: list[tuple[str, list[RRset]]] = []
    for outputs in known_outputs:
        try:
            candidates.append((outputs.target, desired_rrsets(spec, outputs)))
        except MigrateError:
            continue
    for s in reversed(journal.swings()):
        candidates.append((s.target, s.desired))
    reads = parallel(providers, lambda p: p.records(spec.zone))
    out = []
    for provider, read in zip(providers, reads, strict=True):
        if isinstance(read, BaseException):
            out.append(ProviderStatus(provider.name, error=str(read)))
            continue
        served = [read[k] for k in owned if k in read]
        points_at = None
        for target, desired in candidates:
            if _same_values(served, desired):
                points_at = target
                break
        out.append(ProviderStatus(provider.name, served, points_at))
    return out


def _same_values(served: list[RRset], desired: list[RRset]) -> bool:
    return {(r.key, r.values) for r in served} == {(r.key, r.values) for r in desired}
