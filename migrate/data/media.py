"""Copy objects between any two stores: parallel, multipart for large objects, resumable.

An object is skipped when the destination already holds it with equal size and checksum
(ETag MD5 of single-part objects, else the sha256 we store in metadata, else the manifest's
record of what we wrote). Nothing at the destination is deleted unless ``delete=True``.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import tempfile
import threading
import time
from collections.abc import Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from migrate.data import stores
from migrate.data.comparison import Mismatch, SectionSummary, VerifyReport
from migrate.data.manifest import Manifest, Record, data_dir
from migrate.data.progress import ProgressCallback, Reporter
from migrate.data.stores import IN_MEMORY_MAX, Fetched, ObjectInfo, ObjectStore, sha256_file
from migrate.errors import MigrateError

DEFAULT_WORKERS = 16
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
# Bytes of large objects held in memory at once by one copy.
MEMORY_BUDGET = 512 * 1024 * 1024


class MemoryBudget:
    """Lets copies hold at most ``limit`` bytes at once (one object at a time may exceed it)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._cond = threading.Condition()

    @contextmanager
    def hold(self, nbytes: int) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: self.used == 0 or self.used + nbytes <= self.limit)
            self.used += nbytes
        try:
            yield
        finally:
            with self._cond:
                self.used -= nbytes
                self._cond.notify_all()


@dataclass
class ObjectSyncResult:
    source: str
    dest: str
    objects: int = 0
    copied: int = 0
    skipped: int = 0
    deleted: int = 0
    bytes_copied: int = 0
    seconds: float = 0.0
    manifest: str = ""
    # Multipart uploads a killed earlier run left at the destination, aborted by this one.
    uploads_aborted: int = 0
    source_listing: dict[str, ObjectInfo] = field(default_factory=dict, repr=False)
    dest_listing: dict[str, ObjectInfo] = field(default_factory=dict, repr=False)
    # The manifest's rows as they stand after the run, when the run wrote none (else None: re-read).
    records: dict[str, Record] | None = field(default=None, repr=False)
    copied_keys: frozenset[str] = field(default=frozenset(), repr=False)

    def to_json(self) -> dict[str, object]:
        return {
            k: getattr(self, k)
            for k in (
                "source",
                "dest",
                "objects",
                "copied",
                "skipped",
                "deleted",
                "bytes_copied",
                "manifest",
                "uploads_aborted",
            )
        } | {"seconds": round(self.seconds, 3)}


def _listings(
    source: ObjectStore, dest: ObjectStore, create_dest: bool = False
) -> tuple[dict[str, ObjectInfo], dict[str, ObjectInfo]]:
    """List both sides at once, each on its own server (a missing bucket fails the listing itself)."""
    with ThreadPoolExecutor(2) as pool:
        src = pool.submit(source.list_or_create, False)
        dst = pool.submit(dest.list_or_create, create_dest)
        return src.result(), dst.result()


def _same(src: ObjectInfo, dst: ObjectInfo | None, record: Record | None) -> bool | None:
    """True/False when listings decide; None when only metadata (HEAD) can."""
    if dst is None:
        return False
    if record is not None and record.matches(src, dst):
        return True
    if src.md5 and dst.md5:
        return src.size == dst.size and src.md5 == dst.md5
    if not src.etag.startswith("enc:") and not dst.etag.startswith("enc:") and src.size != dst.size:
        return False
    return None


def _content_sha256(store: ObjectStore, info: ObjectInfo, pool: ThreadPoolExecutor, *, trust_meta: bool = True) -> str:
    """sha256 from metadata (``trust_meta``: the source's own, which migrate did not write),
    else computed by reading the object. The destination's is always read: metadata kept on a
    replaced object would vouch for bytes it no longer describes."""
    head = store.head(info.key) if trust_meta else None
    if head is not None and head.sha256:
        return head.sha256
    if info.size < stores.MULTIPART_THRESHOLD:
        return hashlib.sha256(store.get(info.key)).hexdigest()
    with tempfile.TemporaryDirectory(dir=data_dir()) as scratch:
        path = Path(scratch) / "object"
        store.download_to_file(info.key, info.size, path, pool)
        return sha256_file(path)


def sync_objects(
    source: ObjectStore,
    dest: ObjectStore,
    *,
    workers: int = DEFAULT_WORKERS,
    delete: bool = False,
    create_dest: bool = False,
    progress: ProgressCallback | None = None,
    task: str = "media",
    dest_listing: dict[str, ObjectInfo] | None = None,
    source_listing: dict[str, ObjectInfo] | None = None,
) -> ObjectSyncResult:
    """Make ``dest`` hold every object of ``source``; return what was copied and skipped.

    ``dest_listing``: what the caller knows ``dest`` holds (a listing taken earlier, updated
    with what it wrote since); then the destination is not listed, and the result's
    ``dest_listing`` is that map plus what this run wrote, not a fresh listing. An object
    deleted or altered at the destination behind the caller's back goes unnoticed until a
    run without it. Another thread may add to that map while this runs (the follower's
    announced copies): it is read only by single lookups and one dict merge, each atomic under
    the GIL, so an object added before its lookup is skipped. ``source_listing``: the source
    objects to consider (e.g. as its event notifications named them) instead of listing the
    source; each read is still checked against the ETag given. Neither with ``delete`` (it
    would delete by a partial listing).
    """
    if (dest_listing is not None or source_listing is not None) and delete:
        raise ValueError("delete=True needs fresh listings of both sides")
    started = time.monotonic()
    manifest = Manifest.for_pair(source.label, dest.label)
    result = ObjectSyncResult(source.label, dest.label, manifest=str(manifest.path))
    reporter = Reporter(progress, task, "objects")
    src_list: dict[str, ObjectInfo] = {}
    written_here: dict[str, ObjectInfo] = {}
    try:
        result.uploads_aborted = dest.abort_orphaned_uploads()
        with ThreadPoolExecutor(1) as lister:
            # Both listings at once, each on its own server; the copy starts on the source's first
            # page (the destination's whole listing is needed to decide any object).
            if dest_listing is None:
                dst_future = lister.submit(dest.list_or_create, create_dest)
            src_pages = source.pages() if source_listing is None else iter([source_listing])
            first_page = next(src_pages, {})
            dst_list = dst_future.result() if dest_listing is None else dest_listing
        records = manifest.records(None if source_listing is None else source_listing.keys())
        manifest.start_run()
        written = 0
        undecided_any = False
        total_bytes = 0

        with ThreadPoolExecutor(workers) as pool, ThreadPoolExecutor(workers) as parts:
            memory = MemoryBudget(MEMORY_BUDGET)

            def copy(src: ObjectInfo) -> int:
                size, etag, sha = _copy_one(source, dest, src, parts, memory)
                manifest.record(src, size, etag, sha, copied=True)
                written_here[src.key] = ObjectInfo(src.key, size, etag)
                reporter.advance(1, src.size)
                return src.size

            def decide_then_copy(src: ObjectInfo) -> int:
                """Undecided by the listings: equal sha256 metadata skips it, anything else copies."""
                head = dest.head(src.key)
                if head is not None and head.sha256:
                    sha = _content_sha256(source, src, parts)
                    if sha == head.sha256:
                        dst = dst_list[src.key]
                        manifest.record(src, dst.size, dst.etag, sha, copied=False)
                        reporter.advance(1, src.size)
                        return -1
                return copy(src)

            futures: list[Future[int]] = []
            try:
                for page in itertools.chain([first_page], src_pages):
                    src_list.update(page)
                    total_bytes += sum(o.size for o in page.values())
                    reporter.start(total=len(src_list), total_bytes=total_bytes)
                    skipped = skipped_bytes = 0
                    # Large objects first: their parts keep the pipe full while small ones trickle.
                    for src in sorted(page.values(), key=lambda o: -o.size):
                        dst = dst_list.get(src.key)
                        record = records.get(src.key)
                        same = _same(src, dst, record)
                        if same is None:
                            undecided_any = True
                            futures.append(pool.submit(decide_then_copy, src))
                        elif same:
                            if record is None or not record.matches(src, dst):
                                assert dst is not None
                                manifest.record(src, dst.size, dst.etag, "", copied=False)
                                written += 1
                            skipped += 1
                            skipped_bytes += src.size
                        else:
                            futures.append(pool.submit(copy, src))
                    result.skipped += skipped
                    reporter.advance(skipped, skipped_bytes)  # one update a page, not one per object
                for future in as_completed(futures):
                    copied = future.result()
                    if copied < 0:
                        result.skipped += 1
                    else:
                        result.bytes_copied += copied
                        result.copied += 1
            except BaseException:
                for pending in futures:
                    pending.cancel()
                raise
            result.objects = len(src_list)
            if delete:
                extras = [key for key in dst_list if key not in src_list]
                for key in extras:
                    dest.delete(key)
                    manifest.forget(key)
                result.deleted = len(extras)
        result.source_listing = src_list
        result.copied_keys = frozenset(written_here)
        if dest_listing is not None:
            result.dest_listing = {**dst_list, **written_here}
        else:
            result.dest_listing = dest.list() if result.copied or result.deleted else dst_list
        if source_listing is None and not (written or undecided_any or result.copied or result.deleted):
            result.records = records  # all of them, still current
        manifest.finish_run(result.copied, result.skipped, result.bytes_copied)
    finally:
        manifest.close()
    result.seconds = time.monotonic() - started
    return result


def _copy_one(
    source: ObjectStore, dest: ObjectStore, src: ObjectInfo, parts: ThreadPoolExecutor, memory: MemoryBudget
) -> tuple[int, str, str]:
    """Copy one object; return (stored size at dest, dest ETag, content sha256).

    Each byte is read once and hashed once for SHA-256 (kept in the destination's metadata) and,
    unless the destination checks it for us, once for MD5 (the ETag check at both ends). Below
    ``MULTIPART_THRESHOLD``: one GET, one PUT; when the source's ETag is the content's MD5 and the
    destination is S3, that MD5 goes with the PUT as Content-MD5 and must come back as the new
    ETag, so the destination itself proves it stored exactly the source's bytes (S3 refuses a body
    that does not match; any S3-compatible server's ETag is the MD5 of what it stored). Up to
    ``IN_MEMORY_MAX``: parallel ranged GETs and a multipart upload from memory. Larger: through
    a temporary file. ``memory`` bounds the bytes held at once.
    """
    if src.size < stores.MULTIPART_THRESHOLD:
        with memory.hold(src.size) if src.size >= stores.MIB else nullcontext():
            fetched = source.read(src.key)
            data = fetched.parts[0]
            if src.md5 and dest.checks_content_md5:
                md5 = bytes.fromhex(src.md5)  # checked by the destination against what it receives
            else:
                md5 = hashlib.md5(data).digest()
                if src.md5 and md5.hex() != src.md5:
                    raise MigrateError(
                        f"{source.label}/{src.key}: content read does not match its ETag (changed mid-copy?)"
                    )
            sha = hashlib.sha256(data).hexdigest()
            _check_read(source, src, fetched, sha)
            etag = dest.put(src.key, data, sha256=sha, md5=md5, meta=_carried(source, src, fetched))
            return _stored_size(dest, len(data)), etag, sha
    if src.size <= IN_MEMORY_MAX:
        with memory.hold(src.size):
            fetched = source.get_parts(src.key, src.size, parts)
            body = stores.Parts.of(fetched.parts)
            digest = hashlib.sha256()
            for part in fetched.parts:
                digest.update(part)
            sha = digest.hexdigest()
            _check_read(source, src, fetched, sha)
            etag = dest.put_parts(src.key, body, sha256=sha, pool=parts, meta=_carried(source, src, fetched))
            return _stored_size(dest, sum(len(part) for part in fetched.parts)), etag, sha
    with tempfile.TemporaryDirectory(dir=data_dir()) as scratch:
        path = Path(scratch) / "object"
        source.download_to_file(src.key, src.size, path, parts)
        sha = sha256_file(path)
        head = source.head(src.key)
        if head is not None and head.sha256 and head.sha256 != sha:
            raise MigrateError(f"{source.label}/{src.key}: content read does not match its sha256 metadata")
        etag = dest.upload_file(src.key, path, sha256=sha, pool=parts, meta=source.object_meta(src.key))
        return _stored_size(dest, path.stat().st_size), etag, sha


def _carried(source: ObjectStore, src: ObjectInfo, fetched: Fetched) -> dict[str, str]:
    """Headers and user metadata to keep: from the read itself, or asked for when the read hid them."""
    return fetched.meta if fetched.meta or not source.encrypted else source.object_meta(src.key)


def _check_read(source: ObjectStore, src: ObjectInfo, fetched: Fetched, sha: str) -> None:
    """Fail if what was read is not the object the listing named, by every check the source allows.

    The ETag of every ranged read must equal the listed one (no change since listing or between
    parts), and the content must equal the sha256 in the object's metadata when it has one
    (objects we wrote do; a value that is not a hex SHA-256 is some other tool's and is ignored).
    Needs no request beyond the reads themselves.
    """
    where = f"{source.label}/{src.key}"
    if fetched.etag is not None and fetched.etag != src.etag:
        raise MigrateError(f"{where}: changed since it was listed (ETag {fetched.etag}, listed {src.etag})")
    if fetched.sha256 and _SHA256_HEX.match(fetched.sha256) and fetched.sha256 != sha:
        raise MigrateError(f"{where}: content read does not match its sha256 metadata")


# What a server answers for an object stored without a Content-Type: the same as none given.
_DEFAULT_TYPES = frozenset({"binary/octet-stream", "application/octet-stream"})


def meta_mismatches(area: str, key: str, source: ObjectStore, dest: ObjectStore) -> list[Mismatch]:
    """Each header, user-metadata key and tag of ``key`` that differs between the two sides, named."""
    a = source.object_meta(key)
    b = dest.object_meta(key)
    if a == b:
        return []
    if "content-type" not in a and b.get("content-type") in _DEFAULT_TYPES:
        b = {k: v for k, v in b.items() if k != "content-type"}
    found: list[Mismatch] = []
    tags_a = stores.decode_tags(a.pop(stores.TAGS_META, ""))
    tags_b = stores.decode_tags(b.pop(stores.TAGS_META, ""))
    for name in sorted(a.keys() | b.keys()):
        if a.get(name) != b.get(name):
            what = stores.entry_label(name)
            found.append(Mismatch(area, key, what, _shown(a.get(name)), _shown(b.get(name))))
    if tags_a and not tags_b and not dest.keeps_tags(key):  # named once in the report instead
        dest.note_untagged(key)
        tags_a = {}
    for name in sorted(tags_a.keys() | tags_b.keys()):
        if tags_a.get(name) != tags_b.get(name):
            shown = _shown(tags_a.get(name)), _shown(tags_b.get(name))
            found.append(Mismatch(area, key, f"tag {_escaped(name)}", *shown))
    return found


def _escaped(text: str) -> str:
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def _shown(value: str | None, limit: int = 80) -> str:
    """A value for a one-line report: escaped, cut short, "absent" when there is none."""
    if value is None:
        return "absent"
    text = _escaped(value)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _stored_size(dest: ObjectStore, plain: int) -> int:
    from migrate.data.crypto import CHUNK, HEADER, TAG

    return HEADER + plain + TAG * max(1, -(-plain // CHUNK)) if dest.encrypted else plain


def sync_verified(
    source: ObjectStore,
    dest: ObjectStore,
    *,
    area: str,
    task: str,
    workers: int = DEFAULT_WORKERS,
    delete: bool = False,
    create_dest: bool = False,
    progress: ProgressCallback | None = None,
) -> tuple[ObjectSyncResult, VerifyReport]:
    """``sync_objects`` then ``verify_objects`` on the listings and records the copy left current
    (no second listing of either side). Headers, metadata and tags are compared for the objects
    this run wrote (the write itself checked); those it found in place are not re-read (a re-sync
    stays two listings): ``data verify`` compares every object's."""
    copied = sync_objects(
        source, dest, workers=workers, delete=delete, create_dest=create_dest, progress=progress, task=task
    )
    report = verify_objects(
        source,
        dest,
        area=area,
        source_listing=copied.source_listing,
        dest_listing=copied.dest_listing,
        records=copied.records,
        workers=workers,
        compare_meta=copied.copied_keys,
    )
    return copied, report


def verify_objects(
    source: ObjectStore,
    dest: ObjectStore,
    *,
    area: str,
    source_listing: dict[str, ObjectInfo] | None = None,
    dest_listing: dict[str, ObjectInfo] | None = None,
    records: dict[str, Record] | None = None,
    workers: int = DEFAULT_WORKERS,
    progress: ProgressCallback | None = None,
    compare_meta: bool | Collection[str] = True,
) -> VerifyReport:
    """Every source object at the destination with equal bytes, headers, user metadata and tags.

    Bytes: equal plain-MD5 ETags (which each server computed itself), or the manifest's record
    of the very ETags the copy saw at both sides (any rewrite at B changes B's ETag), else the
    bytes of both sides read and hashed here: the destination's checksum metadata is never
    taken on trust. A destination whose ETags are a record beside the bytes (a directory) has
    its bytes read and hashed, against the sha256 the copy computed from the same source object.
    Headers, metadata and tags: a HEAD and a GetObjectTagging at each side
    (``meta_mismatches``) of every object, or of the keys ``compare_meta`` names, or none.
    ``source_listing``/``dest_listing``: listings
    taken after a sync (else both sides are listed); ``records``: the manifest's rows when the
    caller has them current (else they are read).
    """
    started = time.monotonic()
    if source_listing is None or dest_listing is None:
        source_listing, dest_listing = _listings(source, dest)
    if records is None:
        manifest = Manifest.for_pair(source.label, dest.label)
        try:
            records = manifest.records()
        finally:
            manifest.close()
    reporter = Reporter(progress, f"verify {area}", "objects")
    reporter.start(total=len(source_listing))
    report = VerifyReport()
    summary = SectionSummary(
        area=area,
        items=len(source_listing),
        unit="bytes",
        units=sum(o.size for o in source_listing.values()),
        extra=sum(1 for k in dest_listing if k not in source_listing),
    )
    undecided: list[ObjectInfo] = []
    decided = decided_bytes = 0
    for key, src in sorted(source_listing.items()):
        dst = dest_listing.get(key)
        same = _same(src, dst, records.get(key)) if dest.server_etags else None
        if dst is None:
            report.mismatches.append(Mismatch(area, key, "missing", f"{src.size} bytes", "absent"))
        elif same is None:
            undecided.append(src)
            continue
        elif not same:
            kind = "size" if src.size != dst.size else "checksum"
            shown = (src.size, dst.size) if kind == "size" else (src.etag, dst.etag)
            report.mismatches.append(Mismatch(area, key, kind, str(shown[0]), str(shown[1])))
        else:
            summary.matched += 1
        decided += 1
        decided_bytes += src.size
    reporter.advance(decided, decided_bytes)
    if undecided:
        with ThreadPoolExecutor(workers) as pool, ThreadPoolExecutor(workers) as parts:

            def compare(src: ObjectInfo) -> Mismatch | None:
                dst = dest_listing[src.key]
                b = _content_sha256(dest, dst, parts, trust_meta=False)
                record = records.get(src.key)
                if record and record.sha256 and (record.src_size, record.src_etag) == (src.size, src.etag):
                    a = record.sha256  # what the copy hashed reading this very source object
                else:
                    a = _content_sha256(source, src, parts)
                reporter.advance(1, src.size)
                return None if a == b else Mismatch(area, src.key, "checksum", f"sha256 {a[:16]}", f"sha256 {b[:16]}")

            for mismatch in pool.map(compare, undecided):
                if mismatch is None:
                    summary.matched += 1
                else:
                    report.mismatches.append(mismatch)
    if compare_meta:
        chosen = source_listing if compare_meta is True else compare_meta
        present = [key for key in sorted(chosen) if key in source_listing and key in dest_listing]
        bad_keys = {m.item for m in report.mismatches}
        with ThreadPoolExecutor(workers) as pool:
            differing = pool.map(lambda key: meta_mismatches(area, key, source, dest), present)
            for key, found in zip(present, differing, strict=True):
                if found:
                    report.mismatches.extend(found)
                    if key not in bad_keys:
                        summary.matched -= 1
                        bad_keys.add(key)
    if untagged := sorted(dest.untagged()):
        report.not_carried.append(
            f"{area}: the tags of {len(untagged)} object(s) (the first {untagged[0]!r}): {dest.label} keeps "
            "no object tags (it refused them); the bytes, headers and metadata are verified"
        )
    summary.seconds = time.monotonic() - started
    report.sections.append(summary)
    report.seconds = summary.seconds
    return report
