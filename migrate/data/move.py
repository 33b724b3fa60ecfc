"""The data steps a runbook calls: sync, verify, backup, restore between targets and locations.

Each takes the service spec (which buckets, whether there is a database) and the
``TargetOutputs`` of each side; none prints; ``progress`` receives ``ProgressUpdate``s.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrate.data import media, postgres_move, repl_leftovers
from migrate.data.comparison import VerifyReport
from migrate.data.crypto import BackupKey
from migrate.data.endpoints import PgEndpoint, bucket_pairs, postgres_endpoint, s3_endpoint
from migrate.data.fingerprint import DbFingerprint, fingerprint
from migrate.data.locations import Location
from migrate.data.manifest import data_dir
from migrate.data.media import ObjectSyncResult
from migrate.data.progress import ProgressCallback
from migrate.data.stores import DirStore, ObjectStore, S3Store
from migrate.errors import InputError, MigrateError

if TYPE_CHECKING:
    from migrate.outputs import TargetOutputs
    from migrate.spec.model import ServiceSpec


@dataclass
class SyncResult:
    """What a sync, backup or restore did, and the verification that followed it."""

    source: str
    dest: str
    postgres: postgres_move.PgMoveResult | None = None
    media: list[media.ObjectSyncResult] = field(default_factory=list)
    redis: dict[str, Any] | None = None
    verify: VerifyReport | None = None
    backup_id: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.verify is None or self.verify.ok

    def copy_bucket(
        self,
        name: str,
        source: ObjectStore,
        dest: ObjectStore,
        *,
        workers: int,
        progress: ProgressCallback | None,
        delete: bool = False,
        create_dest: bool = False,
    ) -> ObjectSyncResult:
        """Copy the spec bucket ``name`` and verify the copy: the copy joins ``media``, what the
        check found joins ``verify`` (which the move must have)."""
        assert self.verify is not None
        copied, found = media.sync_verified(
            source,
            dest,
            area=f"media:{name}",
            task=f"media {name}",
            workers=workers,
            delete=delete,
            create_dest=create_dest,
            progress=progress,
        )
        self.media.append(copied)
        self.verify.extend(found)
        return copied

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "source": self.source,
            "dest": self.dest,
            "backup_id": self.backup_id,
            "seconds": round(self.seconds, 3),
            "postgres": self.postgres.to_json() if self.postgres else None,
            "media": [m.to_json() for m in self.media],
            "redis": self.redis,
            "verify": self.verify.to_json() if self.verify else None,
        }


def _has_postgres(spec: ServiceSpec | None, outputs: TargetOutputs) -> bool:
    return (spec is None or spec.postgres is not None) and outputs.database_url is not None


def _has_media(spec: ServiceSpec | None, outputs: TargetOutputs) -> bool:
    return (spec.media is not None) if spec is not None else bool(outputs.s3_buckets)


def _workdir(name: str) -> Path:
    return data_dir() / "work" / name


def sync(
    spec: ServiceSpec | None,
    source: TargetOutputs,
    dest: TargetOutputs,
    *,
    postgres: bool = True,
    media_too: bool = True,
    redis: bool = False,
    delete: bool = False,
    workers: int = media.DEFAULT_WORKERS,
    jobs: int = postgres_move.DEFAULT_JOBS,
    verify: bool = True,
    no_owner: bool = False,
    admin_url: str | None = None,
    progress: ProgressCallback | None = None,
    source_admin_url: str | None = None,
) -> SyncResult:
    """Move Postgres (dump/restore) and media (incremental copy) from one target to another.

    ``source_admin_url`` (a superuser at the source) lets role passwords be carried."""
    started = time.monotonic()
    report = VerifyReport() if verify else None
    result = SyncResult(source.target, dest.target, verify=report)
    if postgres and _has_postgres(spec, source):
        src, dst = postgres_endpoint(source), postgres_endpoint(dest)
        admin = _admin(admin_url, dest.target)
        # A destination that was once a replication source may hold a slot (retaining WAL) or
        # replica identities of a round that ended while it was down: remove them first.
        cleaned = repl_leftovers.undo_pending(dst, dest.target, admin)
        result.postgres, pg_report = postgres_move.move(
            src,
            dst,
            _workdir(f"pg-{source.target}-{dest.target}"),
            jobs=jobs,
            verify=verify,
            no_owner=no_owner,
            admin=admin,
            progress=progress,
            source_admin=_admin(source_admin_url, source.target),
        )
        result.postgres.carried[:0] = cleaned
        if report is not None and pg_report is not None:
            report.extend(pg_report)
    if media_too and _has_media(spec, source):
        src_s3, dst_s3 = s3_endpoint(source), s3_endpoint(dest)
        for name, src_bucket, dst_bucket in bucket_pairs(spec, source, dest):
            src_store, dst_store = S3Store(src_s3, src_bucket), S3Store(dst_s3, dst_bucket)
            if report is None:
                result.media.append(
                    media.sync_objects(
                        src_store, dst_store, workers=workers, delete=delete, progress=progress, task=f"media {name}"
                    )
                )
            else:
                result.copy_bucket(name, src_store, dst_store, workers=workers, delete=delete, progress=progress)
    if redis:
        result.redis = _copy_redis(source, dest, progress)
    elif source.redis_url is not None:
        from migrate.data.redis_copy import NOTE

        result.redis = {"copied": False, "note": NOTE}
    result.seconds = time.monotonic() - started
    return result


def _admin(admin_url: str | None, target: str) -> PgEndpoint | None:
    from pydantic import SecretStr

    return PgEndpoint(SecretStr(admin_url), f"{target} (admin)") if admin_url else None


def _copy_redis(source: TargetOutputs, dest: TargetOutputs, progress: ProgressCallback | None) -> dict[str, Any]:
    from migrate.data.redis_copy import copy_snapshot

    if source.redis_url is None or dest.redis_url is None:
        raise InputError("--redis: both targets' outputs need a redis_url")
    copied = copy_snapshot(source.redis_url.get_secret_value(), dest.redis_url.get_secret_value(), progress=progress)
    return copied.to_json()


def verify(
    spec: ServiceSpec | None,
    source: TargetOutputs,
    dest: TargetOutputs,
    *,
    postgres: bool = True,
    media_too: bool = True,
    workers: int = media.DEFAULT_WORKERS,
    progress: ProgressCallback | None = None,
) -> VerifyReport:
    """Compare the two targets now: per table rows + content hash, per object size + checksum."""
    report = VerifyReport()
    if postgres and _has_postgres(spec, source):
        report.extend(
            postgres_move.verify_against(postgres_endpoint(source), postgres_endpoint(dest), progress=progress)
        )
    if media_too and _has_media(spec, source):
        src_s3, dst_s3 = s3_endpoint(source), s3_endpoint(dest)
        for name, src_bucket, dst_bucket in bucket_pairs(spec, source, dest):
            report.extend(
                media.verify_objects(
                    S3Store(src_s3, src_bucket),
                    S3Store(dst_s3, dst_bucket),
                    area=f"media:{name}",
                    workers=workers,
                    progress=progress,
                )
            )
    return report


# --- backups -----------------------------------------------------------------------------------

BACKUP_DOC = "backup.json"


def _service(spec: ServiceSpec | None, outputs: TargetOutputs) -> str:
    return spec.service.name if spec is not None else outputs.target


def _backup_ids(location: Location, service: str) -> tuple[list[str], list[str]]:
    """(complete, unfinished) backup ids, oldest first."""
    root = location.store(service)
    complete, seen = set(), set()
    for key in root.list():
        backup_id, _, rest = key.partition("/")
        seen.add(backup_id)
        if rest == BACKUP_DOC:
            complete.add(backup_id)
    return sorted(complete), sorted(seen - complete)


def backup(
    spec: ServiceSpec | None,
    source: TargetOutputs,
    location: Location,
    *,
    postgres: bool = True,
    media_too: bool = True,
    encrypt: bool = False,
    workers: int = media.DEFAULT_WORKERS,
    jobs: int = postgres_move.DEFAULT_JOBS,
    progress: ProgressCallback | None = None,
) -> SyncResult:
    """Copy the target's data to a location; resumes the newest unfinished backup if there is one."""
    started = time.monotonic()
    key = BackupKey.from_env(required=True) if encrypt else None
    service = _service(spec, source)
    _, unfinished = _backup_ids(location, service)
    backup_id = unfinished[-1] if unfinished else datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    prefix = f"{service}/{backup_id}"
    report = VerifyReport()
    result = SyncResult(source.target, location.label, backup_id=backup_id, verify=report)
    doc: dict[str, Any] = {
        "format": 1,
        "service": service,
        "source": source.target,
        "id": backup_id,
        "encrypted": key is not None,
        "key_id": key.key_id if key else None,
        "postgres": None,
        "media": {},
    }
    media_names = (
        [name for name, _, _ in bucket_pairs(spec, source, source)] if media_too and _has_media(spec, source) else []
    )
    for part in ["postgres", *(f"media/{name}" for name in media_names)]:
        location.store(
            f"{prefix}/{part}"
        )  # a location whose prefix leaves no room for keys fails here, before any work
    if postgres and _has_postgres(spec, source):
        src = postgres_endpoint(source)
        work = _workdir(f"backup-{service}-{backup_id}")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        snapshot = postgres_move.Snapshot(src)
        try:
            t0 = time.monotonic()
            size = postgres_move.dump(
                src, work / "dump", jobs=jobs, snapshot=snapshot.name, compress=1, progress=progress
            )
            print_fp = fingerprint(
                src, snapshot=snapshot.name, workers=max(1, jobs // 2), progress=progress, task="fingerprint source"
            )
        finally:
            snapshot.close()
        pg_store = location.store(f"{prefix}/postgres", key)
        copied, found = media.sync_verified(
            DirStore(work / "dump"),
            pg_store,
            area="postgres dump",
            task="postgres dump upload",
            workers=workers,
            create_dest=True,
            progress=progress,
        )
        report.extend(found)
        shutil.rmtree(work, ignore_errors=True)
        result.postgres = postgres_move.PgMoveResult(
            src.label,
            location.label,
            tables=len(print_fp.tables),
            rows=sum(r for r, _ in print_fp.tables.values()),
            dump_seconds=time.monotonic() - t0,
            dump_bytes=size,
        )
        from dataclasses import asdict

        from migrate.data.roles import source_roles

        roles, members = source_roles(src)
        doc["postgres"] = {
            "dump_bytes": size,
            "fingerprint": print_fp.to_json(),
            "roles": [asdict(r) for r in roles],
            "members": members,
        }
    if media_too and _has_media(spec, source):
        src_s3 = s3_endpoint(source)
        for name, src_bucket, _ in bucket_pairs(spec, source, source):
            src_store, dst_store = S3Store(src_s3, src_bucket), location.store(f"{prefix}/media/{name}", key)
            copied = result.copy_bucket(
                name, src_store, dst_store, workers=workers, create_dest=True, progress=progress
            )
            doc["media"][name] = {
                "objects": copied.objects,
                "bytes": sum(o.size for o in copied.source_listing.values()),
            }
    if report.ok:  # the document marks the backup complete: only a verified backup gets one
        doc["created"] = datetime.now(UTC).isoformat()
        location.store(prefix).check(create=True)
        location.store(prefix).put(BACKUP_DOC, json.dumps(doc, indent=2).encode(), sha256="")
    result.seconds = time.monotonic() - started
    return result


def list_backups(spec: ServiceSpec | None, service: str | None, location: Location) -> list[dict[str, Any]]:
    name = service or (spec.service.name if spec else None)
    if not name:
        raise InputError("give a spec (or --service) to list its backups")
    complete, unfinished = _backup_ids(location, name)
    return [{"id": b, "complete": True} for b in complete] + [{"id": b, "complete": False} for b in unfinished]


def restore(
    spec: ServiceSpec | None,
    location: Location,
    dest: TargetOutputs,
    *,
    backup_id: str | None = None,
    service: str | None = None,
    postgres: bool = True,
    media_too: bool = True,
    workers: int = media.DEFAULT_WORKERS,
    jobs: int = postgres_move.DEFAULT_JOBS,
    no_owner: bool = False,
    admin_url: str | None = None,
    progress: ProgressCallback | None = None,
) -> SyncResult:
    """Restore a complete backup (the newest unless ``backup_id``) into a target, then verify it."""
    started = time.monotonic()
    name = service or _service(spec, dest)
    complete, _ = _backup_ids(location, name)
    if not complete:
        raise MigrateError(f"no complete backup of {name} at {location.label}")
    chosen = backup_id or complete[-1]
    if chosen not in complete:
        raise InputError(f"backup {chosen} of {name} not found (complete ones: {', '.join(complete)})")
    prefix = f"{name}/{chosen}"
    doc = json.loads(location.store(prefix).get(BACKUP_DOC))
    key = None
    if doc.get("encrypted"):
        key = BackupKey.from_env(required=True)
        assert key is not None
        if key.key_id != doc.get("key_id"):
            raise InputError(
                f"backup {chosen} was encrypted with key id {doc.get('key_id')}; "
                f"MIGRATE_BACKUP_KEY has key id {key.key_id}"
            )
    report = VerifyReport()
    result = SyncResult(location.label, dest.target, backup_id=chosen, verify=report)
    if postgres and doc.get("postgres") and dest.database_url is not None:
        dst = postgres_endpoint(dest)
        roles_created: list[str] = []
        lost: list[str] = []
        if not no_owner:
            from migrate.data.roles import Role, create_roles

            roles = [Role(**r) for r in doc["postgres"].get("roles", [])]
            members = [(g, m) for g, m in doc["postgres"].get("members", [])]
            roles_created = create_roles(dst, roles, members, _admin(admin_url, dest.target), lost)
        work = Path(tempfile.mkdtemp(prefix="restore-", dir=data_dir()))
        try:
            t0 = time.monotonic()
            pg_store = location.store(f"{prefix}/postgres", key)
            media.sync_objects(
                pg_store,
                DirStore(work / "dump"),
                workers=workers,
                create_dest=True,
                progress=progress,
                task="postgres dump download",
            )
            dump_seconds = time.monotonic() - t0
            t0 = time.monotonic()
            postgres_move.restore(dst, work / "dump", jobs=jobs, no_owner=no_owner, progress=progress)
            restore_seconds = time.monotonic() - t0
        finally:
            shutil.rmtree(work, ignore_errors=True)
        stored = DbFingerprint.from_dict(location.label, doc["postgres"]["fingerprint"])
        pg_report = postgres_move.verify_against(stored, dst, workers=max(1, jobs // 2), progress=progress)
        report.extend(pg_report)
        result.postgres = postgres_move.PgMoveResult(
            location.label,
            dst.label,
            tables=len(stored.tables),
            rows=sum(r for r, _ in stored.tables.values()),
            dump_seconds=dump_seconds,
            restore_seconds=restore_seconds,
            verify_seconds=pg_report.seconds,
            roles_created=roles_created,
            not_carried=lost,
        )
    if media_too and doc.get("media"):
        dst_s3 = s3_endpoint(dest)
        for name_, _info in doc["media"].items():
            bucket = dest.s3_buckets.get(name_, name_)
            src_store, dst_store = location.store(f"{prefix}/media/{name_}", key), S3Store(dst_s3, bucket)
            result.copy_bucket(name_, src_store, dst_store, workers=workers, progress=progress)
    result.seconds = time.monotonic() - started
    return result
