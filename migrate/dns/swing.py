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

from migrate.dns import rail, saved_plan
from migrate.dns.desired import desired_rrsets, owned_keys
from migrate.dns.journal import Journal, SwingRecord, rrset_row
from migrate.dns.saved_plan import SavedPlan
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
    relative,
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
    # After a failure, read back from the provider: changes it serves, and those it does not.
    served_new: int | None = None
    not_served: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "applied": self.applied,
            "error": self.error,
            "served_new": self.served_new,
            "not_served": self.not_served,
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
    outputs: TargetOutputs | None,
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
    saved: SavedPlan | None = None,
    announce: Callable[[str], None] | None = None,
    known_outputs: Sequence[TargetOutputs] = (),
) -> SwingResult:
    """Point the owned records at ``outputs`` at every DNS provider, journaled first.

    The rail refuses (unless ``allow_unexpected``, up to ``max_share``) owned records that
    point at neither a target it knows (``known_outputs``, this zone's earlier swings and
    what they found) nor what they held before, and TTL changes nobody set.

    ``saved``: apply exactly this saved plan (``outputs`` may be None then) after checking
    that every provider still serves what it saw; ``PlanMovedError`` names each record that
    moved, and nothing is changed.

    Raises ``HealthCheckError`` (unless ``force``), ``SafetyRailError`` or, when a
    provider cannot be read, ``MigrateError`` before anything changed. A provider that fails
    while applying does not stop the others: the result says which did not get the change,
    and running the same swing again finishes the job.
    """
    started = time.monotonic()
    health_url = saved.health_url if saved is not None else outputs.health_url if outputs else ""
    if health_url and not force:
        check_health(health_url)
    journal = journal or Journal(spec.zone)
    if saved is not None:
        providers = (
            list(providers) if providers is not None else providers_for(spec, [p.provider for p in saved.providers])
        )
        desired, owned = saved.desired, owned_keys(spec)
        result = _saved_result(spec, saved, providers)
    else:
        if outputs is None:
            raise InputError("a swing needs the target's outputs or a saved plan")
        providers = list(providers) if providers is not None else providers_for(spec)
        desired, owned = desired_rrsets(spec, outputs), owned_keys(spec)
        result = plan(spec, outputs, providers=providers, wanted=(desired, owned))
    unreadable = [p for p in result.providers if p.error]
    if unreadable:
        raise MigrateError(
            "cannot read the zone at "
            + "; ".join(f"{p.provider}: {p.error}" for p in unreadable)
            + " — nothing was changed"
        )
    known = known_records(spec, journal, [*known_outputs, *([outputs] if outputs else [])])
    low_ttls = (prepare_ttl or min(spec.dns.ttl, 60),)
    allowed: dict[str, list[str]] = {}
    for p in result.providers:
        assert p.plan is not None
        let_through = rail.check(
            p.plan, owned, allow_unexpected=allow_unexpected, max_share=max_share, known=known, extra_ttls=low_ttls
        )
        if let_through:
            allowed[p.provider] = let_through

    swing_id, resumed = open_swing(
        journal,
        "swing",
        result.target,
        desired,
        owned,
        befores=_befores(result, owned),
        plan_fingerprints={p.provider: p.fingerprint for p in saved.providers} if saved else None,
    )
    result.swing_id, result.resumed = swing_id, resumed
    for provider_name, surprises in allowed.items():  # let through by --allow-unexpected: on record
        journal.write(swing_id, "allowed", provider=provider_name, surprises=surprises)

    by_name = {p.name: p for p in providers}
    if prepare:
        result.waited_seconds = _prepare(spec, result, by_name, prepare_ttl, sleep, progress, announce)
        result.prepared = True

    def apply_one(p: ProviderResult) -> None:
        assert p.plan is not None
        p.plan.changes = users_first(p.plan.changes, spec.zone)
        by_name[p.provider].apply(p.plan, _acknowledging(journal, swing_id, p.provider, progress))

    outcomes = parallel([p for p in result.providers if p.plan and p.plan.changes], apply_one)
    applying = [p for p in result.providers if p.plan and p.plan.changes]
    for p, outcome in zip(applying, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            p.error = str(outcome)
    _read_back([p for p in result.providers if p.error], by_name, spec.zone)
    journal_outcome(journal, swing_id, result)
    result.elapsed_seconds = time.monotonic() - started
    return result


def known_records(spec: ServiceSpec, journal: Journal, targets: Sequence[TargetOutputs]) -> rail.Known | None:
    """What the owned records may hold without surprise: each known target's records, and
    what every earlier swing of this zone set and found. None when nothing is known yet (a
    zone's first swing onto records migrate never saw: nothing to judge them against)."""
    known = rail.Known()
    for record in journal.swings():
        known.add(record.desired)
        for rrsets in record.before.values():
            known.add(rrsets)
    if not known.values and len(targets) < 2:
        return None
    for out in targets:
        known.add(desired_rrsets(spec, out))
    return known


def _saved_result(spec: ServiceSpec, saved: SavedPlan, providers: Sequence[DnsProvider]) -> SwingResult:
    """Read every provider again; refuse if any serves something the saved plan did not see."""
    if saved.zone.rstrip(".").lower() != spec.zone.rstrip(".").lower():
        raise InputError(f"the saved plan is for zone {saved.zone!r}, the spec for {spec.zone!r}")
    names = {p.provider for p in saved.providers}
    missing = names - {p.name for p in providers}
    if missing:
        raise InputError(f"the saved plan names DNS provider(s) not in the spec: {', '.join(sorted(missing))}")
    providers = [p for p in providers if p.name in names]
    result = SwingResult(None, saved.target, spec.zone)
    reads = parallel(list(providers), lambda p: p.records(spec.zone))
    moved_lines: list[str] = []
    for provider, read in zip(providers, reads, strict=True):
        if isinstance(read, BaseException):
            result.providers.append(ProviderResult(provider.name, error=str(read)))
            continue
        planned = saved.plan_for(provider.name, read)
        moved_lines += [f"{provider.name}: {line}" for line in saved_plan.moved(planned.changes, read, spec.zone)]
        result.providers.append(ProviderResult(provider.name, plan=planned))
    if moved_lines:
        raise saved_plan.PlanMovedError(
            f"{len(moved_lines)} record(s) changed since the plan was saved; nothing was changed "
            "(plan again and review):\n  " + "\n  ".join(moved_lines)
        )
    return result


def _acknowledging(
    journal: Journal, swing_id: str, provider: str, progress: ProgressCallback | None
) -> ProgressCallback:
    """A progress callback that also journals each batch as the provider acknowledges it
    (providers call progress once per acknowledged batch): a crash leaves a true count."""

    def callback(what: str, done: int, total: int) -> None:
        journal.write_many(swing_id, [("batch", {"provider": provider, "acknowledged": done, "total": total})])
        if progress:
            progress(what, done, total)

    return callback


def users_first(changes: Sequence[Change], zone: str) -> list[Change]:
    """The records users hit first go out first: the apex, then ``www``, then the rest by
    name. If a swing is interrupted, the service's front door has already moved."""
    apex = zone.rstrip(".").lower() + "."
    www = "www." + apex

    def rank(change: Change) -> tuple[int, str, str]:
        name, rtype = change.key
        return (0 if name == apex else 1 if name == www else 2, name, rtype)

    return sorted(changes, key=rank)


def _read_back(failed: Sequence[ProviderResult], by_name: dict[str, DnsProvider], zone: str) -> None:
    """After a failed apply, ask each failed provider what it serves now: how many planned
    changes took effect and which did not (batches before the failure may have landed)."""

    def read(p: ProviderResult) -> None:
        assert p.plan is not None
        current = by_name[p.provider].records(zone)
        done = 0
        for change in p.plan.changes:
            served = current.get(change.key)
            if (change.new is None and served is None) or (change.new is not None and change.new.same_data(served)):
                done += 1
            else:
                p.not_served.append(f"{relative(change.key[0], zone)} {change.key[1]}")
        p.served_new = done

    readable = [p for p in failed if p.plan is not None]
    for p, outcome in zip(readable, parallel(readable, read), strict=True):
        if isinstance(outcome, BaseException):
            p.error = f"{p.error}; reading back what it serves failed too: {outcome}"


def journal_outcome(journal: Journal, swing_id: str, result: SwingResult) -> None:
    """Which providers got the change and which failed, and that the run ended: one append."""
    events: list[tuple[str, dict[str, Any]]] = []
    for p in result.providers:
        if p.error is None:
            p.applied = True
            events.append(("applied", {"provider": p.provider, "changes": len(p.plan.changes) if p.plan else 0}))
        else:
            failed: dict[str, Any] = {"provider": p.provider, "error": p.error}
            if p.served_new is not None:
                failed["served_new"] = p.served_new
                failed["not_served"] = p.not_served
            events.append(("failed", failed))
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


def open_swing(
    journal: Journal,
    kind: str,
    target: str,
    desired: list[RRset],
    owned: list[Key],
    rolls_back: str | None = None,
    befores: Sequence[dict[str, Any]] = (),
    plan_fingerprints: dict[str, str] | None = None,
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
    start: dict[str, Any] = {
        "kind": kind,
        "target": target,
        "rolls_back": rolls_back,
        "desired": [rrset_row(r) for r in desired],
        "owned": [list(k) for k in owned],
    }
    if plan_fingerprints is not None:
        start["saved_plan"] = plan_fingerprints
    journal.write_many(swing_id, [("start", start), *(("before", b) for b in befores)])
    return swing_id, False


def _prepare(
    spec: ServiceSpec,
    result: SwingResult,
    by_name: dict[str, DnsProvider],
    prepare_ttl: int | None,
    sleep: Callable[[float], None],
    progress: ProgressCallback | None,
    announce: Callable[[str], None] | None = None,
) -> float:
    """Lower the owned records' TTLs (same values), then wait out the old TTL; the wait is
    announced before anything is lowered (an old TTL can be a day)."""
    low = prepare_ttl or min(spec.dns.ttl, 60)
    olds = [c.old.ttl for p in result.providers if p.plan for c in p.plan.changes if c.old and c.old.ttl > low]
    if olds and announce:
        until = time.strftime("%H:%M:%S UTC", time.gmtime(time.time() + max(olds)))
        announce(
            f"--prepare: lowering {len(olds)} owned record(s) to TTL {low}s, then waiting {max(olds)}s "
            f"(the old TTL; until about {until}) before the swing"
        )
    wait = 0
    for p in result.providers:
        assert p.plan is not None
        lowered: list[Change] = []
        for change in p.plan.changes:
            if change.old is not None and change.old.ttl > low:
                lowered.append(Change(change.old, replace(change.old, ttl=low)))
                wait = max(wait, change.old.ttl)
        if lowered:
            by_name[p.provider].apply(Plan(p.provider, spec.zone, lowered), progress)
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
    force: bool = False,
) -> SwingResult:
    """Restore what each provider served before the last swing (or ``swing_id``).

    A record that serves neither what the swing wrote nor what it found (an edit made after
    the swing) is not overwritten: ``PlanMovedError`` names each one, unless ``force``.
    """
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
    if not force:
        edited = [
            f"{p.provider}: {line}"
            for p in result.providers
            if p.plan is not None
            for line in _edited_since(record, p.provider, p.plan.current, spec.zone)
        ]
        if edited:
            raise saved_plan.PlanMovedError(
                f"{len(edited)} record(s) changed since swing {record.id}; nothing was rolled back "
                "(--force to overwrite them):\n  " + "\n  ".join(edited)
            )
    for p in result.providers:
        assert p.plan is not None
        rail.check(p.plan, owned)
    all_before = sorted({r for rs in record.before.values() for r in rs})
    rid, resumed = open_swing(
        journal, "rollback", result.target, all_before, owned, rolls_back=record.id, befores=_befores(result, owned)
    )
    result.swing_id, result.resumed = rid, resumed
    applying = [p for p in result.providers if p.plan and p.plan.changes]

    def apply_one(p: ProviderResult) -> None:
        assert p.plan is not None
        by_name[p.provider].apply(p.plan, progress)

    for p, outcome in zip(applying, parallel(applying, apply_one), strict=True):
        if isinstance(outcome, BaseException):
            p.error = str(outcome)
    journal_outcome(journal, rid, result)
    return result


def _edited_since(record: SwingRecord, provider: str, current: dict[Key, RRset], zone: str) -> list[str]:
    """Owned records serving neither what the swing wrote nor what it found there."""
    wrote = {r.key: r for r in record.desired}
    found = {r.key: r for r in record.before.get(provider, [])}
    out = []
    for key in record.owned:
        served, new, old = current.get(key), wrote.get(key), found.get(key)
        if served is None:
            if new is None or old is None:
                continue
        elif served.same_data(new) or served.same_data(old):
            continue
        elif old is not None and served.values == old.values:
            continue  # the old values at a lowered TTL: a --prepare that went no further
        out.append(saved_plan.describe_move(key, new, served, zone))
    return out


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
    owned: int = 0
    # Owned records matching each known state (a target, or what a swing found before it).
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def state(self) -> str:
        if self.error:
            return "unreachable"
        if self.points_at:
            return "swung"
        return "half-swung" if sum(1 for n in self.counts.values() if n) > 1 else "unknown"

    def to_json(self, records: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "provider": self.provider,
            "state": self.state,
            "points_at": self.points_at,
            "error": self.error,
            "owned": self.owned,
            "counts": self.counts,
        }
        if records:
            out["records"] = [r.to_json() for r in self.records]
        return out

    def summary(self) -> str:
        if self.error:
            return self.error
        parts = [f"{n} of {self.owned} as {target}" for target, n in self.counts.items() if n]
        return "; ".join(parts) or f"none of the {self.owned} owned records matches a known target"


@paused_gc()
def status(
    spec: ServiceSpec,
    *,
    known_outputs: Sequence[TargetOutputs] = (),
    providers: Sequence[DnsProvider] | None = None,
    journal: Journal | None = None,
) -> list[ProviderStatus]:
    """The owned records each provider serves now, which target they point at, and for a
    provider that is part-way, how many match each target (or what the last swing found)."""
    providers = list(providers) if providers is not None else providers_for(spec)
    journal = journal or Journal(spec.zone)
    owned = owned_keys(spec)
    candidates: list[tuple[str, list[RRset]]] = []
    for outputs in known_outputs:
        try:
            candidates.append((outputs.target, desired_rrsets(spec, outputs)))
        except MigrateError:
            continue
    swings = list(reversed(journal.swings()))
    for s in swings:
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
        states = list(candidates)
        if swings and provider.name in swings[0].before:
            states.append((f"before swing {swings[0].id}", swings[0].before[provider.name]))
        counts: dict[str, int] = {}
        for target, desired in states:
            if target not in counts:
                counts[target] = _matching(read, owned, desired)
        out.append(ProviderStatus(provider.name, served, points_at, owned=len(owned), counts=counts))
    return out


def _matching(read: dict[Key, RRset], owned: Sequence[Key], desired: Sequence[RRset]) -> int:
    wanted = {r.key: r.values for r in desired}
    return sum(1 for k in owned if (read[k].values if k in read else ()) == wanted.get(k, ()))


def _same_values(served: list[RRset], desired: list[RRset]) -> bool:
    return {(r.key, r.values) for r in served} == {(r.key, r.values) for r in desired}
