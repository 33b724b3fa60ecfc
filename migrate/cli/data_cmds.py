"""``migrate data``: move, back up, restore, replicate and verify a service's data.

Thin layer: the work is in ``migrate.data``; this module resolves targets to their stack
outputs, draws progress on stderr, prints the verification table, and maps failures to
exit codes (1 when anything differs).
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from migrate.cli.common import DEFAULT_SPEC, JsonOption, Output, SpecOption
from migrate.data.follow import (  # stdlib-only module: cheap at start-up
    EVENTS_MODES,
    EVENTS_PASS_INTERVAL,
    FULL_EVERY,
    FULL_SECONDS,
)

if TYPE_CHECKING:
    from migrate.data.comparison import VerifyReport
    from migrate.data.progress import ProgressUpdate
    from migrate.outputs import TargetOutputs
    from migrate.spec.model import ServiceSpec

ADMIN_ENV = "MIGRATE_TO_ADMIN_URL"
FROM_ADMIN_ENV = "MIGRATE_FROM_ADMIN_URL"

FromOption = Annotated[str | None, typer.Option("--from", help="Source target (name in the spec).")]
ToOption = Annotated[str | None, typer.Option("--to", help="Destination target (name in the spec).")]
FromOutputs = Annotated[
    Path | None,
    typer.Option(
        "--from-outputs",
        help="JSON file of the source's stack outputs instead of the engine's (SENSITIVE: holds "
        "real secrets; keep it mode 600).",
    ),
]
ToOutputs = Annotated[
    Path | None,
    typer.Option("--to-outputs", help="JSON file of the destination's stack outputs (SENSITIVE, like --from-outputs)."),
]
Workers = Annotated[int, typer.Option("--workers", min=1, max=256, help="Parallel object copies.")]
Jobs = Annotated[int, typer.Option("--jobs", "-j", min=1, max=64, help="pg_dump/pg_restore parallel jobs.")]
NoPostgres = Annotated[bool, typer.Option("--no-postgres", help="Leave the database out.")]
NoMedia = Annotated[bool, typer.Option("--no-media", help="Leave the media buckets out.")]
NoOwner = Annotated[
    bool,
    typer.Option(
        "--no-owner",
        help=(
            "Restore objects owned by the destination user, without the source's grants "
            "(when source roles cannot be created)."
        ),
    ),
]


def register(app: typer.Typer) -> None:
    data = typer.Typer(
        name="data",
        no_args_is_help=True,
        rich_markup_mode=None,
        help="Move Postgres and media between targets and backup locations, with proof. Redis is a cache and is "
        "not moved unless --redis.",
    )
    data.command("sync")(sync)
    data.command("verify")(verify)
    data.command("backup")(backup)
    data.command("restore")(restore)
    data.command("backups")(backups)
    data.command("replicate")(replicate)
    data.command("follow")(follow)
    app.add_typer(data)


# --- resolving targets -------------------------------------------------------------------------


def _spec(path: Path, required: bool) -> ServiceSpec | None:
    if not path.exists() and not required and path == DEFAULT_SPEC:
        return None
    from migrate.cli.common import load

    return load(path)


def _outputs(spec: ServiceSpec | None, target: str | None, file: Path | None, side: str) -> TargetOutputs:
    from migrate.errors import InputError
    from migrate.outputs import TargetOutputs

    if file is not None:
        return TargetOutputs.from_file(file, f"--{side}-outputs", target=target)
    if target is None:
        raise InputError(f"give --{side} TARGET (or --{side}-outputs FILE)")
    if spec is None:
        raise InputError(f"--{side} {target}: needs the spec (--spec) to find the target")
    spec.target(target)
    try:
        from migrate.engine.stack_outputs import load_outputs  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise InputError(
            f"--{side} {target}: reading stack outputs needs the engine; pass --{side}-outputs FILE instead"
        ) from None
    loaded: TargetOutputs = load_outputs(spec, target)
    return loaded


def _admin_url(dest: TargetOutputs) -> str | None:
    """MIGRATE_TO_ADMIN_URL, else the superuser URL the destination's stack exports (if any)."""
    if os.environ.get(ADMIN_ENV):
        return os.environ[ADMIN_ENV]
    return dest.database_admin_url.get_secret_value() if dest.database_admin_url is not None else None


def _source_admin_url(source: TargetOutputs) -> str | None:
    """MIGRATE_FROM_ADMIN_URL, else the superuser URL the source's stack exports (if any)."""
    return os.environ.get(FROM_ADMIN_ENV) or (
        source.database_admin_url.get_secret_value() if source.database_admin_url is not None else None
    )


def _one_side(
    spec: Path, target: str | None, file: Path | None, side: str, reach: ExitStack | None = None
) -> tuple[ServiceSpec | None, TargetOutputs]:
    """The spec (when needed) and one side's outputs (``--from``/``--to`` or its outputs file),
    its secrets registered for redaction. With ``reach``, as this machine reaches the data
    services (``migrate.data.reach``: an adapter's tunnels, closed with that stack)."""
    loaded = _spec(spec, required=target is not None and file is None)
    outputs = _outputs(loaded, target, file, side)
    _register_secrets(outputs)
    return loaded, _reached(loaded, outputs, reach)


def _both_sides(
    spec: Path,
    source: str | None,
    from_outputs: Path | None,
    dest: str | None,
    to_outputs: Path | None,
    reach: ExitStack | None = None,
) -> tuple[ServiceSpec | None, TargetOutputs, TargetOutputs]:
    loaded, a = _one_side(spec, source, from_outputs, "from", reach)
    b = _outputs(loaded, dest, to_outputs, "to")
    _register_secrets(b)
    return loaded, a, _reached(loaded, b, reach)


def _reached(spec: ServiceSpec | None, outputs: TargetOutputs, reach: ExitStack | None) -> TargetOutputs:
    if reach is None:
        return outputs
    from migrate.data.reach import reach as reach_outputs

    return reach_outputs(spec, outputs, reach)


def _register_secrets(*outputs: TargetOutputs) -> None:
    from migrate.redact import register_secret

    for item in outputs:
        for value in (
            item.database_url,
            item.database_admin_url,
            item.s3_access_key,
            item.s3_secret_key,
            item.redis_url,
        ):
            if value is not None:
                register_secret(value.get_secret_value())


# --- progress and reports ----------------------------------------------------------------------


class ProgressView:
    """Maps ``ProgressUpdate``s to rich tasks: counts, units/s and bytes/s on stderr."""

    def __init__(self, out: Output) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, ProgressColumn, TextColumn, TimeElapsedColumn
        from rich.text import Text

        class Rates(ProgressColumn):
            def render(self, task: Any) -> Text:
                elapsed = task.elapsed or 0.0
                if elapsed <= 0:
                    return Text("")
                unit = task.fields.get("unit", "")
                nbytes = task.fields.get("bytes", 0)
                parts = []
                if unit != "bytes":
                    parts.append(f"{task.completed / elapsed:,.0f} {unit}/s")
                if nbytes:
                    parts.append(f"{_human_bytes(nbytes / elapsed)}/s")
                return Text("  ".join(parts), style="progress.data.speed")

        self.progress = out.progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            Rates(),
            TimeElapsedColumn(),
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> ProgressView:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, update: ProgressUpdate) -> None:
        task = self.tasks.get(update.task)
        if task is None:
            task = self.tasks[update.task] = self.progress.add_task(
                update.task, total=update.total, unit=update.unit, bytes=0
            )
        fields = self.progress.tasks[self._index(task)].fields
        changes: dict[str, Any] = {"advance": update.advance, "bytes": fields.get("bytes", 0) + update.advance_bytes}
        if update.unit == "bytes":
            changes["advance"] = update.advance_bytes
        if update.total is not None:
            changes["total"] = update.total
        self.progress.update(task, **changes)

    def _index(self, task_id: Any) -> int:
        return next(i for i, t in enumerate(self.progress.tasks) if t.id == task_id)


def _human_bytes(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} TiB"


def _print_report(out: Output, report: VerifyReport) -> None:
    from rich.table import Table

    table = Table(title="verification", title_justify="left")
    for column in ("area", "items", "matched", "differ", "size", "extra at dest", "seconds"):
        table.add_column(column, justify="left" if column == "area" else "right")
    for s in report.sections:
        size = _human_bytes(s.units) if s.unit == "bytes" else f"{s.units:,} rows"
        table.add_row(
            s.area, f"{s.items:,}", f"{s.matched:,}", f"{s.mismatched:,}", size, f"{s.extra:,}", f"{s.seconds:.2f}"
        )
    out.human.print(table)
    for mismatch in report.mismatches[:50]:
        out.human.print(f"DIFFERS {mismatch.describe()}", markup=False, soft_wrap=True)
    if len(report.mismatches) > 50:
        out.human.print(f"... and {len(report.mismatches) - 50} more (see --json)", markup=False)
    for line in report.not_carried:
        out.human.print(f"NOT CARRIED {line}", markup=False, soft_wrap=True)
    out.human.print(
        "verified: everything matches" if report.ok else f"verification FAILED: {len(report.mismatches)} difference(s)",
        markup=False,
    )


def _finish(out: Output, document: dict[str, Any], report: VerifyReport | None) -> None:
    out.emit(document)
    if report is not None:
        _print_report(out, report)
        if not report.ok:
            raise typer.Exit(1)


def _summary_lines(out: Output, result: Any) -> None:
    if result.postgres is not None:
        pg = result.postgres
        out.human.print(
            f"postgres {pg.source} -> {pg.dest}: dump {pg.dump_seconds:.1f}s, restore "
            f"{pg.restore_seconds:.1f}s, verify {pg.verify_seconds:.1f}s"
            + (f", roles created: {', '.join(pg.roles_created)}" if pg.roles_created else ""),
            markup=False,
        )
        for note in pg.not_carried:
            out.human.print(f"  not carried: {note}", markup=False)
    for m in result.media:
        out.human.print(
            f"media {m.source} -> {m.dest}: {m.copied} copied ({_human_bytes(m.bytes_copied)}), "
            f"{m.skipped} already there, {m.deleted} deleted, {m.seconds:.1f}s"
            + (f", {m.uploads_aborted} unfinished upload(s) of a killed run aborted" if m.uploads_aborted else ""),
            markup=False,
        )
    if result.redis is not None and result.redis.get("copied"):
        out.human.print(
            f"redis snapshot: {result.redis['keys']} keys ({_human_bytes(result.redis['bytes'])}), "
            f"{result.redis['seconds']:.1f}s",
            markup=False,
        )
    elif result.redis is not None:
        out.human.print(result.redis["note"], markup=False)


class _Run(ExitStack):
    """What sync, verify, backup and restore share: their output, and the adapters' ways in to
    the data services (tunnels: entered on this stack, closed when the command ends)."""

    def __init__(self, json_output: bool) -> None:
        super().__init__()
        self.out = Output(json_output)

    def finish(self, result: Any, *lines: str) -> None:
        """A move's summary (then ``lines``), its --json document and its verification (exit 1 if
        anything differs)."""
        _summary_lines(self.out, result)
        for line in lines:
            self.out.human.print(line, markup=False)
        _finish(self.out, result.to_json(), result.verify)


# --- commands ----------------------------------------------------------------------------------


def sync(
    source: FromOption = None,
    dest: ToOption = None,
    from_outputs: FromOutputs = None,
    to_outputs: ToOutputs = None,
    spec: SpecOption = DEFAULT_SPEC,
    workers: Workers = 16,
    jobs: Jobs = 4,
    no_postgres: NoPostgres = False,
    no_media: NoMedia = False,
    no_owner: NoOwner = False,
    redis: Annotated[
        bool,
        typer.Option(
            "--redis",
            help="Also copy a snapshot of Redis (a cache, so not moved by default): every key, TTLs kept; "
            "keys the source has are replaced, others left alone.",
        ),
    ] = False,
    delete: Annotated[bool, typer.Option("--delete", help="Delete destination objects absent at the source.")] = False,
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Skip the verification (not advised).")] = False,
    json_output: JsonOption = False,
) -> None:
    """Copy Postgres (parallel dump/restore) and media (incremental, resumable) from one target to another.

    Verifies afterwards; exit 1 naming every difference. A database admin URL for role
    creation may be given in MIGRATE_TO_ADMIN_URL.
    """
    from migrate.data import move

    with _Run(json_output) as run:
        loaded, a, b = _both_sides(spec, source, from_outputs, dest, to_outputs, run)
        with ProgressView(run.out) as view:
            result = move.sync(
                loaded,
                a,
                b,
                postgres=not no_postgres,
                media_too=not no_media,
                redis=redis,
                delete=delete,
                workers=workers,
                jobs=jobs,
                verify=not no_verify,
                no_owner=no_owner,
                admin_url=_admin_url(b),
                source_admin_url=_source_admin_url(a),
                progress=view,
            )
        run.finish(result)


def verify(
    source: FromOption = None,
    dest: ToOption = None,
    from_outputs: FromOutputs = None,
    to_outputs: ToOutputs = None,
    spec: SpecOption = DEFAULT_SPEC,
    workers: Workers = 16,
    no_postgres: NoPostgres = False,
    no_media: NoMedia = False,
    json_output: JsonOption = False,
) -> None:
    """Compare two targets now: per table rows and content hash, per object size and checksum (exit 1 if any differ)."""
    from migrate.data import move

    with _Run(json_output) as run:
        loaded, a, b = _both_sides(spec, source, from_outputs, dest, to_outputs, run)
        with ProgressView(run.out) as view:
            report = move.verify(
                loaded, a, b, postgres=not no_postgres, media_too=not no_media, workers=workers, progress=view
            )
        _finish(run.out, report.to_json(), report)


def backup(
    source: FromOption = None,
    location: Annotated[
        str,
        typer.Option("--to", help="s3://BUCKET[/PREFIX] (endpoint and keys from MIGRATE_BACKUP_S3_*) or a directory."),
    ] = "",
    from_outputs: FromOutputs = None,
    spec: SpecOption = DEFAULT_SPEC,
    workers: Workers = 16,
    jobs: Jobs = 4,
    no_postgres: NoPostgres = False,
    no_media: NoMedia = False,
    encrypt: Annotated[bool, typer.Option("--encrypt", help="Encrypt at rest with MIGRATE_BACKUP_KEY.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Back up a target's database and media to a location outside every provider, then verify the copy."""
    from migrate.data import move
    from migrate.data.locations import parse_location
    from migrate.errors import InputError

    if not location:
        raise InputError("give --to LOCATION (s3://BUCKET[/PREFIX] or a directory)")
    with _Run(json_output) as run:
        loaded, a = _one_side(spec, source, from_outputs, "from", run)
        with ProgressView(run.out) as view:
            result = move.backup(
                loaded,
                a,
                parse_location(location),
                postgres=not no_postgres,
                media_too=not no_media,
                encrypt=encrypt,
                workers=workers,
                jobs=jobs,
                progress=view,
            )
        run.finish(result, f"backup {result.backup_id} at {location}{'' if result.ok else ' (NOT complete)'}")


def restore(
    location: Annotated[str, typer.Option("--from", help="The backup location (as given to backup --to).")] = "",
    dest: ToOption = None,
    to_outputs: ToOutputs = None,
    spec: SpecOption = DEFAULT_SPEC,
    backup_id: Annotated[str | None, typer.Option("--backup", help="Backup id (default: the newest complete).")] = None,
    service: Annotated[str | None, typer.Option("--service", help="Service name (default: the spec's).")] = None,
    workers: Workers = 16,
    jobs: Jobs = 4,
    no_postgres: NoPostgres = False,
    no_media: NoMedia = False,
    no_owner: NoOwner = False,
    json_output: JsonOption = False,
) -> None:
    """Restore a backup into a target and verify it against the fingerprint taken at backup time."""
    from migrate.data import move
    from migrate.data.locations import parse_location
    from migrate.errors import InputError

    if not location:
        raise InputError("give --from LOCATION")
    with _Run(json_output) as run:
        loaded, b = _one_side(spec, dest, to_outputs, "to", run)
        with ProgressView(run.out) as view:
            result = move.restore(
                loaded,
                parse_location(location),
                b,
                backup_id=backup_id,
                service=service,
                postgres=not no_postgres,
                media_too=not no_media,
                workers=workers,
                jobs=jobs,
                no_owner=no_owner,
                admin_url=_admin_url(b),
                progress=view,
            )
        run.finish(result)


def backups(
    location: Annotated[str, typer.Option("--at", help="The backup location.")] = "",
    spec: SpecOption = DEFAULT_SPEC,
    service: Annotated[str | None, typer.Option("--service", help="Service name (default: the spec's).")] = None,
    json_output: JsonOption = False,
) -> None:
    """List the backups at a location (complete ones carry a verified backup.json)."""
    from migrate.data import move
    from migrate.data.locations import parse_location
    from migrate.errors import InputError

    if not location:
        raise InputError("give --at LOCATION")
    out = Output(json_output)
    found = move.list_backups(_spec(spec, required=service is None), service, parse_location(location))
    out.emit({"location": location, "backups": found})
    for item in found:
        out.human.print(f"{item['id']}  {'complete' if item['complete'] else 'unfinished'}", markup=False)


def replicate(
    action: Annotated[str, typer.Argument(help="start | status | stop | promote")],
    source: FromOption = None,
    dest: ToOption = None,
    from_outputs: FromOutputs = None,
    to_outputs: ToOutputs = None,
    spec: SpecOption = DEFAULT_SPEC,
    max_lag: Annotated[float, typer.Option("--max-lag", help="promote: wait until lag is at most this (s).")] = 0.0,
    sync: Annotated[
        bool,
        typer.Option(
            "--sync",
            help="start: the source's commits wait for the standby (RPO 0; "
            "the source's writes stall while the standby is down). "
            "Needs a superuser at the source: MIGRATE_FROM_ADMIN_URL, "
            "else its database_admin_url output.",
        ),
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="promote/start: give up after this many seconds.")
    ] = 300.0,
    json_output: JsonOption = False,
) -> None:
    """Warm standby by Postgres logical replication: start, status (lag), stop, promote.

    The destination needs a superuser (Postgres 15) to create the subscription: give its URL in
    MIGRATE_TO_ADMIN_URL. The source's app user needs REPLICATION and to own the tables.
    """
    from migrate.data import replication
    from migrate.errors import InputError

    if action not in ("start", "status", "stop", "promote"):
        raise InputError(f"unknown action {action!r}: start, status, stop or promote")
    out = Output(json_output)
    loaded, a, b = _both_sides(spec, source, from_outputs, dest, to_outputs)
    admin, source_admin = _admin_url(b), _source_admin_url(a)
    if action == "start":
        state = replication.start(
            loaded, a, b, admin_url=admin, timeout=timeout, synchronous=sync, source_admin_url=source_admin
        )
    elif action == "status":
        state = replication.status(loaded, a, b, admin_url=admin)
    elif action == "stop":
        state = replication.stop(loaded, a, b, admin_url=admin, source_admin_url=source_admin)
    else:
        state = replication.promote(
            loaded, a, b, admin_url=admin, max_lag=max_lag, timeout=timeout, source_admin_url=source_admin
        )
    out.emit(state.to_json())
    out.human.print(state.describe(), markup=False)
    if not state.ok:
        raise typer.Exit(1)


def follow(
    source: FromOption = None,
    dest: ToOption = None,
    from_outputs: FromOutputs = None,
    to_outputs: ToOutputs = None,
    spec: SpecOption = DEFAULT_SPEC,
    workers: Workers = 16,
    interval: Annotated[
        float, typer.Option("--interval", min=0.0, help="Seconds from one pass's start to the next.")
    ] = 1.0,
    passes: Annotated[
        int | None,
        typer.Option("--passes", min=1, help="Stop after this many passes (default: until SIGTERM or Ctrl-C)."),
    ] = None,
    status: Annotated[
        Path | None, typer.Option("--status", help="Write the follower's state (JSON) here after every pass.")
    ] = None,
    full_every: Annotated[
        int, typer.Option("--full-every", min=1, help="Re-list the destination too every N passes (1: every pass).")
    ] = FULL_EVERY,
    full_interval: Annotated[
        float,
        typer.Option(
            "--full-interval", min=0.0, help="...or when this many seconds have passed since the last full pass."
        ),
    ] = FULL_SECONDS,
    events: Annotated[
        str,
        typer.Option(
            "--events",
            help="off, on or auto: also copy each object as the source "
            "announces it, through the change feed its provider declares (AWS: S3 event "
            "notifications into an SQS queue the follower adds at the source and removes on "
            "exit; the local sandbox: its S3 server's event feed; passes then come every "
            f"{EVENTS_PASS_INTERVAL:g}s at least, as the safety net). on: fail where the "
            "source has no feed; auto: follow by passes there.",
        ),
    ] = "off",
    json_output: JsonOption = False,
) -> None:
    """Keep the destination's media in step with the source, pass after pass, for a warm standby.

    Pairs with `data replicate` (which carries rows only): media uploaded at the source reaches
    the destination within one pass. A pass lists the source only and trusts what the follower
    knows the destination holds; every --full-every passes or --full-interval seconds a full
    pass re-lists the destination and repairs what was deleted or altered there behind its
    back. Never deletes at the destination. Exit 1 if the last pass failed.
    """
    import signal
    import threading

    from migrate.data.follow import FollowState, follow_media, write_state

    out = Output(json_output)
    if events not in EVENTS_MODES:
        from migrate.errors import InputError

        raise InputError(f"--events must be one of {', '.join(EVENTS_MODES)}, not {events!r}")
    loaded, a, b = _both_sides(spec, source, from_outputs, dest, to_outputs)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}", markup=False), TimeElapsedColumn())
    with out.progress(*columns) as progress:
        task = progress.add_task(f"media {a.target} -> {b.target}: first pass", total=passes)

        def on_pass(state: FollowState) -> None:
            if status is not None:
                write_state(status, state)
            lag = "" if state.last_pass_seconds is None else f", last pass {state.last_pass_seconds:.2f}s"
            failing = f", failing: {state.last_error}" if state.last_error else ""
            announced = f" ({state.copied_on_events} as announced)" if state.events == "on" else ""
            progress.update(
                task,
                advance=1,
                description=f"media {a.target} -> {b.target}: {state.passes} passes, "
                f"{state.objects_copied} objects copied{announced}{lag}{failing}",
            )

        def on_announced(state: FollowState) -> None:
            if status is not None:
                write_state(status, state)

        state = follow_media(
            loaded,
            a,
            b,
            interval=interval,
            stop=stop,
            max_passes=passes,
            workers=workers,
            full_every=full_every,
            full_seconds=full_interval,
            events=events,
            on_pass=on_pass,
            on_announced=on_announced,
        )
    out.emit(state.to_json())
    out.human.print(
        f"media {a.target} -> {b.target}: {state.passes} passes ({state.failed_passes} failed), "
        f"{state.objects_copied} objects / {_human_bytes(state.bytes_copied)} copied",
        markup=False,
    )
    if state.events != "off":
        out.human.print(
            f"event notifications: {state.events}"
            + (f", {state.copied_on_events} objects copied as announced" if state.events == "on" else ""),
            markup=False,
        )
    if state.last_error:
        out.human.print(f"last pass failed: {state.last_error}", markup=False)
        raise typer.Exit(1)
