"""One-shot Postgres move: parallel directory-format dump and restore, then proof.

The dump runs in an exported snapshot that stays open until the destination is
fingerprinted, so verification compares the destination with exactly what was dumped,
even while the source keeps taking writes. A killed move is re-run from the start:
``--clean --if-exists`` makes the restore replace whatever a half-done run left behind.

Privileges: the source user must be able to read every table (the app user owns them);
the destination user must own the database (it creates and replaces objects there) and,
if the source has roles the destination lacks, hold CREATEROLE (see ``roles``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate.data import db_settings
from migrate.data.comparison import VerifyReport
from migrate.data.endpoints import PgEndpoint
from migrate.data.fingerprint import DbFingerprint, compare, fingerprint
from migrate.data.pgconn import connect, ensure_writable, finish_tool, run_tool, tool_env, tool_error
from migrate.data.progress import ProgressCallback, Reporter
from migrate.data.repl_leftovers import PUBLICATION
from migrate.data.roles import create_roles, source_roles
from migrate.errors import MigrateError

DEFAULT_JOBS = 4
# TOC entries a database owner cannot (and need not) replay at a destination it does not superuse.
SKIPPED_TOC = (" COMMENT - EXTENSION ", " SCHEMA - public ", " COMMENT - SCHEMA public ")
# Replication's own publication, in a dump taken while the source
# replicates: restored, it would publish the destination's tables, and their UPDATEs and
# DELETEs would fail where a table has no replica identity. The app's own publications move.
_MIGRATE_PUBLICATION_TOC = re.compile(
    rf" (?:COMMENT - )?PUBLICATION (?:TABLE |TABLES IN SCHEMA )?(?:.*? )?{re.escape(PUBLICATION)}(?: |$)"
)


@dataclass
class PgMoveResult:
    source: str
    dest: str
    tables: int = 0
    rows: int = 0
    dump_seconds: float = 0.0
    restore_seconds: float = 0.0
    verify_seconds: float = 0.0
    roles_created: list[str] = field(default_factory=list)
    dump_bytes: int = 0
    carried: list[str] = field(default_factory=list)  # settings, comment, passwords
    not_carried: list[str] = field(default_factory=list)  # and what the operator must do about each

    def to_json(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def _pg_tool(name: str) -> str:
    from providers.local.servers.postgres import pg_tool

    return pg_tool(name)


ESTIMATED_ROWS_SQL = (
    "SELECT coalesce(sum(greatest(reltuples, 0)), 0)::bigint FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
)


class Snapshot:
    """An exported snapshot, held open by one transaction until closed.

    The transaction lives in a ``psql`` session rather than a psycopg connection so that the
    dump can start before Python has loaded psycopg (0.3-1 s): that import, the destination
    check and the roles then overlap the dump instead of preceding it.
    """

    def __init__(self, endpoint: PgEndpoint) -> None:
        conninfo, env = tool_env(endpoint)
        self.process = run_tool(
            [_pg_tool("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", conninfo], env, "psql", stdin=True
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n"
                f"SELECT pg_export_snapshot(), ({ESTIMATED_ROWS_SQL});\n"
            )
            self.process.stdin.flush()
        except BrokenPipeError:
            pass  # psql is gone: its stderr says why
        line = self.process.stdout.readline().strip()
        if "|" not in line:
            self.process.kill()
            _, err = self.process.communicate()
            raise MigrateError(
                f"cannot dump from Postgres at {endpoint.label} ({endpoint.name}): "
                f"{tool_error(err, self.process.returncode)}"
            )
        name, rows = line.split("|", 1)
        self.name: str = name
        self.estimated_rows = int(rows)

    def close(self) -> None:
        """End the transaction (read-only: nothing to commit) by closing the session."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            try:
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def dump(
    source: PgEndpoint,
    directory: Path,
    *,
    jobs: int = DEFAULT_JOBS,
    snapshot: str | None = None,
    compress: int = 1,
    schema_only: bool = False,
    progress: ProgressCallback | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> int:
    """pg_dump -Fd -j into ``directory`` (must not exist); return its size in bytes.

    ``meanwhile`` runs once pg_dump has started (work the dump does not need); if it raises,
    the dump is stopped and the error goes on.
    """
    conninfo, env = tool_env(source)
    argv = [_pg_tool("pg_dump"), "-Fd", "-f", str(directory), "-Z", str(compress), "--no-sync", "-d", conninfo]
    argv += ["-j", str(jobs)] if not schema_only else ["--schema-only", "--no-publications"]
    argv += ["--no-subscriptions"]  # a subscription restored elsewhere would pull from the source
    argv += [f"--snapshot={snapshot}"] if snapshot else []
    reporter = Reporter(progress, "postgres dump", "bytes")
    reporter.start()
    process = run_tool(argv, env, "pg_dump")
    seen = 0
    try:
        if meanwhile is not None:
            meanwhile()
        while True:
            try:
                process.wait(timeout=0.25)  # returns as soon as pg_dump exits, not at the next tick
                break
            except subprocess.TimeoutExpired:
                size = _dir_size(directory)
                reporter.advance(0, size - seen)
                seen = size
    except BaseException:
        process.kill()
        process.communicate()
        raise
    finish_tool(process, f"pg_dump of {source.label}")
    size = _dir_size(directory)
    reporter.advance(0, size - seen)
    return size


def _dir_size(directory: Path) -> int:
    try:
        return sum(p.stat().st_size for p in directory.iterdir())
    except OSError:
        return 0


def restore(
    dest: PgEndpoint,
    directory: Path,
    *,
    jobs: int = DEFAULT_JOBS,
    no_owner: bool = False,
    expected_rows: int | None = None,
    progress: ProgressCallback | None = None,
) -> None:
    """pg_restore -j from a directory dump, replacing objects of the same names."""
    conninfo, env = tool_env(dest)
    listing = run_tool([_pg_tool("pg_restore"), "-l", str(directory)], env, "pg_restore -l")
    toc, _ = listing.communicate()
    if listing.returncode != 0:
        raise MigrateError(f"{directory} is not a readable Postgres directory dump")
    kept = [
        line
        for line in toc.splitlines()
        if not any(skip in line for skip in SKIPPED_TOC) and not _MIGRATE_PUBLICATION_TOC.search(line)
    ]
    ensure_writable(dest)
    kept = _keep_installed_extensions(dest, kept)
    _drop_partitioned(dest, kept)
    list_file = directory.parent / f"{directory.name}.toc"
    list_file.write_text("\n".join(kept) + "\n")
    argv = [
        _pg_tool("pg_restore"),
        "-j",
        str(jobs),
        "--clean",
        "--if-exists",
        "--exit-on-error",
        "-L",
        str(list_file),
        "-d",
        conninfo,
        str(directory),
    ]
    # the source's roles are not created then: grants to them would fail the restore
    argv += ["--no-owner", "--no-privileges"] if no_owner else []
    reporter = Reporter(progress, "postgres restore", "rows")
    reporter.start(total=expected_rows or None)
    process = run_tool(argv, env, "pg_restore")
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_copy, args=(dest, reporter, stop, process), daemon=True)
    watcher.start()
    try:
        finish_tool(process, f"pg_restore into {dest.label}")
    finally:
        stop.set()
        watcher.join(timeout=2)
        list_file.unlink(missing_ok=True)


EXTENSIONS_AT_DEST_SQL = """
SELECT a.name, e.extname IS NOT NULL, coalesce(v.trusted, false), r.rolsuper
FROM unnest(%s::text[]) AS a(name)
LEFT JOIN pg_extension e ON e.extname = a.name
LEFT JOIN LATERAL (SELECT bool_or(trusted) AS trusted, count(*) AS n FROM pg_available_extension_versions
    WHERE name = a.name) v ON true
CROSS JOIN (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) r
WHERE e.extname IS NOT NULL OR v.n = 0 OR NOT (coalesce(v.trusted, false) OR r.rolsuper)"""
_EXTENSION_TOC = re.compile(r" EXTENSION - (\S+) ")


def _keep_installed_extensions(dest: PgEndpoint, toc: list[str]) -> list[str]:
    """Leave out of the restore the extensions already installed at the destination, and fail
    in one line on those it cannot create there.

    An admin may have installed an extension the app user cannot create (not trusted) or does
    not own: ``--clean`` would try to drop it and fail. One the server lacks, or that needs a
    superuser the destination does not give, would fail the restore half-way.
    """
    wanted = [m.group(1) for line in toc if (m := _EXTENSION_TOC.search(line)) and not line.startswith(";")]
    if not wanted:
        return toc
    with connect(dest, what="check extensions at") as conn:
        rows = conn.execute(EXTENSIONS_AT_DEST_SQL, (wanted,)).fetchall()
    installed = {name for name, present, _, _ in rows if present}
    problems = [name for name, present, _, _ in rows if not present]
    if problems:
        raise MigrateError(
            f"extension {', '.join(problems)} cannot be created at {dest.label} by {dest.user}: not available "
            f"on that server, or not trusted and {dest.user} is no superuser; have an admin run "
            + "; ".join(f"CREATE EXTENSION {name}" for name in problems)
            + " there, then run the move again"
        )
    return [line for line in toc if not ((m := _EXTENSION_TOC.search(line)) and m.group(1) in installed)]


PARTITIONED_SQL = """
SELECT n.nspname, c.relname, format('%I.%I', n.nspname, c.relname) FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'p' AND NOT c.relispartition"""


def _drop_partitioned(dest: PgEndpoint, toc: list[str]) -> None:
    """Drop the dump's partitioned tables at the destination before ``--clean`` would.

    pg_restore's clean pass drops a partition's inherited constraints one by one, which Postgres
    refuses (``cannot drop inherited constraint``): a re-run after a killed restore of a
    partitioned table would fail. Dropping the partitioned root (and with it its partitions)
    first leaves nothing of the kind; only tables the dump itself is about to replace go.
    """
    tables = [line for line in toc if " TABLE " in line and not line.startswith(";")]
    with connect(dest, what="prepare the restore into") as conn:
        for schema, table, qualified in conn.execute(PARTITIONED_SQL).fetchall():
            if any(f" TABLE {schema} {table} " in line for line in tables):
                conn.execute(f"DROP TABLE IF EXISTS {qualified} CASCADE")


def _watch_copy(dest: PgEndpoint, reporter: Reporter, stop: threading.Event, process: Any) -> None:
    """Rows/s from pg_stat_progress_copy while COPYs run (best effort, display only)."""
    try:
        conn = connect(dest, what="watch")
    except MigrateError:
        return
    finished = 0
    reported = 0
    live: dict[int, int] = {}
    try:
        while not stop.wait(0.5):
            rows = {
                int(pid): int(count)
                for pid, count in conn.execute("SELECT pid, tuples_processed FROM pg_stat_progress_copy").fetchall()
            }
            finished += sum(count for pid, count in live.items() if pid not in rows)
            live = rows
            total = finished + sum(live.values())
            if total > reported:
                reporter.advance(total - reported)
                reported = total
    except Exception:  # display only: never fail a restore over its progress bar
        pass
    finally:
        conn.close()


def move(
    source: PgEndpoint,
    dest: PgEndpoint,
    workdir: Path,
    *,
    jobs: int = DEFAULT_JOBS,
    verify: bool = True,
    no_owner: bool = False,
    admin: PgEndpoint | None = None,
    compress: int = 1,
    progress: ProgressCallback | None = None,
    source_admin: PgEndpoint | None = None,
) -> tuple[PgMoveResult, VerifyReport | None]:
    """Dump ``source`` and restore into ``dest``; fingerprint both (same snapshot) when ``verify``.

    The staging dump is gzip level 1 (as backups): the cheapest level, yet it cuts the bytes
    written to and read back from the staging disk several-fold, bytes that otherwise compete
    with the destination's own writes when both share a disk (-Z0 was no faster at any scale
    measured, and slower at pgbench scale 20 on a loaded machine: bench/README.md).
    """
    result = PgMoveResult(source.label, dest.label)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)

    def prepare_dest() -> None:  # while pg_dump runs: fails fast, but costs the move no time
        ensure_writable(dest, admin)  # never hang on a synchronous standby that is gone
        roles, members = source_roles(source)
        lost: list[str] = []
        if not no_owner:
            result.roles_created = create_roles(dest, roles, members, admin, lost)
        names = [role.name for role in roles] if not no_owner else []
        found = db_settings.read(source, names, source_admin)
        carried = db_settings.apply(dest, admin, found, [role.name for role in roles if role.login])
        result.carried, result.not_carried = carried.done, lost + carried.not_carried

    started = time.monotonic()
    snapshot = Snapshot(source)
    try:
        result.dump_bytes = dump(
            source,
            workdir / "dump",
            jobs=jobs,
            snapshot=snapshot.name,
            compress=compress,
            progress=progress,
            meanwhile=prepare_dest,
        )
        result.dump_seconds = time.monotonic() - started
        started = time.monotonic()
        workers = max(1, jobs // 2)
        # The source's fingerprint (in the dump's snapshot: exactly what was dumped) is taken while
        # the destination restores: the source's server is idle meanwhile, so only the
        # destination's half of the verification is left after the restore.
        pool = ThreadPoolExecutor(1) if verify else None
        theirs = (
            pool.submit(
                fingerprint,
                source,
                snapshot=snapshot.name,
                workers=workers,
                progress=progress,
                task="verify source",
                owners=not no_owner,
            )
            if pool is not None
            else None
        )
        failed = True
        try:
            restore(
                dest,
                workdir / "dump",
                jobs=jobs,
                no_owner=no_owner,
                expected_rows=snapshot.estimated_rows,
                progress=progress,
            )
            result.restore_seconds = time.monotonic() - started
            report = None
            if theirs is not None:
                verify_started = time.monotonic()
                ours = fingerprint(
                    dest, workers=workers, progress=progress, task="verify destination", owners=not no_owner
                )
                report = compare(theirs.result(), ours)
                report.seconds = time.monotonic() - verify_started  # what the move waited for it
                result.verify_seconds = report.seconds
                result.tables = report.sections[0].items
                result.rows = report.sections[0].units
            failed = False
        finally:
            if pool is not None:  # a failed restore does not wait for the source's hashing
                pool.shutdown(wait=not failed, cancel_futures=True)
    finally:
        snapshot.close()
    shutil.rmtree(workdir, ignore_errors=True)
    return result, report


def verify_against(
    source: PgEndpoint | DbFingerprint,
    dest: PgEndpoint,
    *,
    snapshot: str | None = None,
    workers: int = 2,
    progress: ProgressCallback | None = None,
    owners: bool = True,
) -> VerifyReport:
    """Fingerprint both sides at once (or use a stored source fingerprint) and compare.

    ``owners``: compare owners and grants too (not after a ``--no-owner`` move)."""
    if isinstance(source, DbFingerprint):
        return compare(
            source,
            fingerprint(
                dest,
                workers=workers,
                progress=progress,
                task="verify destination",
                owners=owners,
                row_hash=source.row_hash,
            ),
        )
    with ThreadPoolExecutor(2) as pool:
        theirs = pool.submit(
            fingerprint,
            source,
            snapshot=snapshot,
            workers=workers,
            progress=progress,
            task="verify source",
            owners=owners,
        )
        ours = pool.submit(
            fingerprint, dest, workers=workers, progress=progress, task="verify destination", owners=owners
        )
        return compare(theirs.result(), ours.result())
