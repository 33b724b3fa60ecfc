"""Object stores the media engine copies between: any S3-compatible bucket or a local directory.

Integrity in transit: we compare the ETag the server returns with the MD5 we computed
(rather than sending Content-MD5, which would make the server hash everything twice).
Every object we write carries the sha256 of its content in metadata (``x-amz-meta-sha256``
on S3, a sidecar JSON file in a directory), because a multipart ETag is not a content hash.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrate.data import prefetch, s3_http, uploads
from migrate.errors import InputError, MigrateError, MissingBucket, TaggingRefused

if TYPE_CHECKING:
    from migrate.data.endpoints import S3Endpoint

MIB = 1024 * 1024
PART_SIZE = 8 * MIB
# Below this an object goes in one PUT (as rclone's 200 MiB cutoff): each request costs the
# server far more than bytes do, and the ETag stays the content MD5, verifiable from a listing.
MULTIPART_THRESHOLD = 64 * MIB
MAX_PARTS = 10_000
# Objects up to this size are copied through memory (no temporary file).
IN_MEMORY_MAX = 256 * MIB
_PLAIN_MD5 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class ObjectInfo:
    """What a listing or a HEAD says about an object. ``sha256`` only comes from HEAD."""

    key: str
    size: int
    etag: str
    sha256: str | None = None

    @property
    def md5(self) -> str | None:
        """The content MD5 when the ETag is one (single-part upload, no encryption)."""
        return self.etag if _PLAIN_MD5.match(self.etag) else None


def part_size_for(size: int) -> int:
    """8 MiB parts, larger when an object would need more than S3's 10,000 parts."""
    return max(PART_SIZE, -(-size // (MAX_PARTS - 1)))


def multipart_etag(part_md5s: list[bytes]) -> str:
    """The ETag S3 gives a multipart upload: md5 of the parts' binary md5s, dash, count."""
    return f"{hashlib.md5(b''.join(part_md5s)).hexdigest()}-{len(part_md5s)}"


@dataclass(frozen=True)
class Parts:
    """An object's body as upload parts, each with its binary MD5: what a multipart upload sends,
    and what the server's part ETags are checked against."""

    data: Sequence[bytes]
    md5s: Sequence[bytes]

    @classmethod
    def of(cls, data: Sequence[bytes]) -> Parts:
        return cls(data, [hashlib.md5(part).digest() for part in data])

    def part(self, number: int) -> tuple[bytes, bytes]:
        """Part ``number`` (from 1, as S3 numbers them) and its MD5."""
        return self.data[number - 1], self.md5s[number - 1]


@dataclass
class Fetched:
    """An object read into memory part by part, with what the server said about it while reading."""

    parts: list[bytes]
    etag: str | None = None
    sha256: str | None = None
    meta: dict[str, str] = field(default_factory=dict)


# HTTP headers an object is served with, kept across a copy like its user metadata:
# a media object must come back with its Content-Type, not as application/octet-stream.
HEADER_PARAMS = {
    "content-type": "ContentType",
    "cache-control": "CacheControl",
    "content-disposition": "ContentDisposition",
    "content-encoding": "ContentEncoding",
    "content-language": "ContentLanguage",
    "expires": "Expires",
}
# Metadata migrate itself writes; never carried over from a source object.
# migrate's own checksum lives under its own name: an app's ``x-amz-meta-sha256`` is the app's,
# carried like any other key and never overwritten.
CHECKSUM_META = "migrate-sha256"
OWN_META = frozenset({CHECKSUM_META, "plain-size"})
# The object's tags, as the x-amz-tagging header writes them (URL-encoded ``k=v&k=v``, sorted).
# The leading ':' cannot begin an HTTP header name, so no user-metadata key collides with it.
TAGS_META = ":tags"
# Error codes of a server that keeps no object tags (Cloudflare R2 answers NotImplemented).
_NO_TAGGING = ("NotImplemented", "MethodNotAllowed", "501")
# One mapping holds an object's headers and its user metadata. A user-metadata key spelt like
# a header (an app's own ``x-amz-meta-content-type``), or already carrying this prefix, is kept
# under the prefix, so it can never overwrite the header of the same name or be taken for it.
USER_PREFIX = "x-amz-meta-"


def _user_entry(key: str) -> str:
    return USER_PREFIX + key if key in HEADER_PARAMS or key.startswith(USER_PREFIX) or key == TAGS_META else key


def user_key(entry: str) -> str | None:
    """The user-metadata key an entry of the mapping holds (None for a header or the tags)."""
    if entry.startswith(USER_PREFIX):
        return entry[len(USER_PREFIX) :]
    if entry in HEADER_PARAMS or entry == TAGS_META:
        return None
    return entry


def entry_label(entry: str) -> str:
    """How a report names an entry: ``header content-type`` or ``x-amz-meta-KEY``."""
    key = user_key(entry)
    return f"header {entry}" if key is None else f"metadata {USER_PREFIX}{key}"


def encode_tags(tags: dict[str, str]) -> str:
    """Tags as the x-amz-tagging header and ``TAGS_META`` hold them (sorted: one spelling per set)."""
    from urllib.parse import quote

    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(tags.items()))


def decode_tags(encoded: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(encoded, keep_blank_values=True))


def carried_meta(response: dict[str, Any]) -> dict[str, str]:
    """The headers and user metadata of an S3 GET/HEAD response that a copy must keep."""
    meta = {_user_entry(k): str(v) for k, v in response.get("Metadata", {}).items() if k not in OWN_META}
    for header, param in HEADER_PARAMS.items():
        # Expires as the app wrote it (botocore also parses it into a datetime, or drops it
        # when it is not a date: the raw string is the one to carry).
        value = response.get("ExpiresString") or response.get(param) if header == "expires" else response.get(param)
        if isinstance(value, datetime):
            value = format_datetime(value.astimezone(UTC), usegmt=True)
        if value:
            meta[header] = str(value)
    return meta


def split_meta(meta: dict[str, str] | None) -> tuple[dict[str, str], dict[str, str]]:
    """(boto3 header parameters, x-amz-meta user metadata) from one ``meta`` mapping."""
    headers: dict[str, str] = {}
    user: dict[str, str] = {}
    for key, value in (meta or {}).items():
        if key in HEADER_PARAMS:
            headers[HEADER_PARAMS[key]] = value
        elif key == TAGS_META:
            if value:
                headers["Tagging"] = value
        else:
            user[user_key(key) or key] = value
    return headers, user


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(4 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


class ObjectStore(ABC):
    """One bucket (with an optional key prefix) or one directory."""

    label: str
    encrypted = False
    # True when ``put(..., md5=M)`` makes the store itself check the bytes against M (so M may
    # come from the source's ETag instead of hashing here): the returned ETag is the MD5 of
    # what the store received and ``put`` fails unless it equals M.
    checks_content_md5 = False
    # True when the ETags its listings give are computed by the server from the bytes it holds
    # (S3); False when they are a record kept beside the bytes (a directory's sidecar files),
    # which a replaced file would leave standing: a verify then reads the bytes.
    server_etags = False
    # Set once the store has shown it keeps no object tags (it refused a write's x-amz-tagging,
    # or answers GetObjectTagging NotImplemented): writes go without them from then on, and a
    # verify names the objects whose tags it cannot hold instead of failing on each of them.
    no_tagging = False

    def untagged(self) -> frozenset[str]:
        """The keys whose tags this store could not hold (written without them, or verified so)."""
        return frozenset()

    def keeps_tags(self, key: str) -> bool:
        """Whether the store keeps object tags (asking it, with ``key``, when not known yet)."""
        return True

    def note_untagged(self, key: str) -> None:
        raise NotImplementedError(f"{type(self).__name__} keeps every object's tags")

    @abstractmethod
    def check(self, create: bool = False) -> None:
        """Fail with one clear line if unreachable or missing; ``create`` makes it exist."""

    @abstractmethod
    def list(self) -> dict[str, ObjectInfo]: ...

    def list_or_create(self, create: bool = False) -> dict[str, ObjectInfo]:
        """Check (creating when ``create``), then list."""
        self.check(create=create)
        return self.list()

    def pages(self, create: bool = False) -> Iterator[dict[str, ObjectInfo]]:
        """The listing in pages, each as soon as the store gives it (``list_or_create`` in pieces).

        Why: on a large bucket listing alone takes minutes; a copy can start on the first page.
        A store that lists in one go yields one page.
        """
        yield self.list_or_create(create)

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None: ...

    @abstractmethod
    def get(self, key: str) -> bytes: ...

    @abstractmethod
    def put(
        self, key: str, data: bytes, *, sha256: str, meta: dict[str, str] | None = None, md5: bytes | None = None
    ) -> str:
        """Store ``data``; return the new ETag. ``md5``: the data's MD5 when the caller has it already."""

    def read(self, key: str) -> Fetched:
        """The whole object in one piece, with its ETag and sha256 metadata where the store has them."""
        return Fetched([self.get(key)])

    def get_parts(self, key: str, size: int, pool: Executor) -> Fetched:
        """The whole object in memory, cut at ``part_size_for(size)`` boundaries."""
        data = self.get(key)
        step = part_size_for(len(data))
        return Fetched([data[i : i + step] for i in range(0, len(data), step)] or [b""])

    def put_parts(
        self, key: str, parts: Parts, *, sha256: str, pool: Executor, meta: dict[str, str] | None = None
    ) -> str:
        """Store the concatenation of ``parts``; return the new ETag."""
        md5 = parts.md5s[0] if len(parts.data) == 1 else None
        return self.put(key, b"".join(parts.data), sha256=sha256, md5=md5, meta=meta)

    def object_meta(self, key: str) -> dict[str, str]:
        """The headers and user metadata a copy of ``key`` must keep (see ``carried_meta``)."""
        return {}

    @abstractmethod
    def download_to_file(self, key: str, size: int, path: Path, pool: Executor) -> None: ...

    @abstractmethod
    def upload_file(
        self, key: str, path: Path, *, sha256: str, pool: Executor, meta: dict[str, str] | None = None
    ) -> str:
        """Store the file's content (multipart when large); return the new ETag."""

    @abstractmethod
    def delete(self, key: str) -> None: ...

    def abort_orphaned_uploads(self) -> int:
        """Abort the multipart uploads a killed migrate left here (``uploads``); return how many."""
        return 0


class S3Store(ObjectStore):
    checks_content_md5 = True
    server_etags = True

    def __init__(self, endpoint: S3Endpoint, bucket: str, prefix: str = "", max_connections: int = 64) -> None:
        self.endpoint = endpoint
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.label = f"{endpoint.label}/{bucket}" + (f"/{self.prefix}" if self.prefix else "")
        self._max_connections = max_connections
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._lean_endpoint: Any = False  # not decided yet
        self._untagged: set[str] = set()

    def untagged(self) -> frozenset[str]:
        return frozenset(self._untagged)

    def note_untagged(self, key: str) -> None:
        self._untagged.add(key)  # one set.add: safe from the copy's worker threads

    def keeps_tags(self, key: str) -> bool:
        if not self.no_tagging:
            self.tags(key)  # a server without tagging answers NotImplemented, which sets no_tagging
        return not self.no_tagging

    @property
    def client(self) -> Any:
        """The botocore client, built on first use: an unchanged re-sync never needs one."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self.endpoint.client(self._max_connections)
        return self._client

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

        try:
            return fn(**kwargs)
        except EndpointConnectionError:
            raise MigrateError(f"cannot reach S3 endpoint {self.endpoint.label} ({what} {self.label})") from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            if code in ("NoSuchBucket",):
                raise MissingBucket(f"bucket {self.bucket} does not exist at {self.endpoint.label}") from None
            if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"):
                raise MigrateError(f"access denied by {self.endpoint.label} ({what} {self.label}): {code}") from None
            if code in _NO_TAGGING and kwargs.get("Tagging"):
                raise TaggingRefused(f"S3 {what} {self.label}: {code}: the object's tags were refused") from None
            raise MigrateError(f"S3 {what} {self.label}: {code}: {exc}") from None
        except BotoCoreError as exc:
            raise MigrateError(f"S3 {what} {self.label}: {exc}") from None

    def check(self, create: bool = False) -> None:
        from botocore.exceptions import ClientError

        try:
            self._call("check", self.client.head_bucket, Bucket=self.bucket)
        except MigrateError:
            if not create:
                raise
            try:
                self.client.create_bucket(Bucket=self.bucket)
            except ClientError as exc:
                raise MigrateError(f"cannot create bucket {self.bucket} at {self.endpoint.label}: {exc}") from None

    def list(self) -> dict[str, ObjectInfo]:
        return {key: info for page in self.pages() for key, info in page.items()}

    def list_or_create(self, create: bool = False) -> dict[str, ObjectInfo]:
        """The listing; a missing bucket is created (and empty) when ``create``, else an error."""
        return {key: info for page in self.pages(create) for key, info in page.items()}

    def pages(self, create: bool = False) -> Iterator[dict[str, ObjectInfo]]:
        """The listing a page at a time; a missing bucket is created (and empty) when ``create``.

        Without botocore where the endpoint allows (``s3_http``); if those requests give up
        part-way, botocore lists again and yields only the objects not yielded yet.
        """
        seen: set[str] = set()
        try:
            lean = self._lean()
            if lean is not None:
                try:
                    for page in self._lean_pages(lean):
                        seen.update(page)
                        yield page
                    return
                except s3_http.LeanUnsupported:
                    pass
            for page in self._botocore_pages():
                yield {key: info for key, info in page.items() if key not in seen}
        except MissingBucket:
            if not create or seen:
                raise
            self.check(create=True)
            yield {}

    def _lean_pages(self, lean: s3_http.Endpoint) -> Iterator[dict[str, ObjectInfo]]:
        skip = len(self.prefix)
        started = prefetch.take(lean, self.bucket, self.prefix)  # begun before the CLI loaded?
        try:
            for page in started or s3_http.list_pages(lean, self.bucket, self.prefix):
                yield {key[skip:]: ObjectInfo(key[skip:], size, etag) for key, size, etag in page}
        except s3_http.BucketMissing:
            raise MissingBucket(f"bucket {self.bucket} does not exist at {self.endpoint.label}") from None

    def _botocore_pages(self) -> Iterator[dict[str, ObjectInfo]]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = iter(paginator.paginate(Bucket=self.bucket, Prefix=self.prefix))
        skip = len(self.prefix)
        while (page := self._call("list", lambda: next(pages, None))) is not None:
            yield {
                item["Key"][skip:]: ObjectInfo(item["Key"][skip:], int(item["Size"]), item["ETag"].strip('"'))
                for item in page.get("Contents", [])
            }

    def _lean(self) -> s3_http.Endpoint | None:
        """The botocore-free requests (``s3_http``) for this endpoint, or None when botocore must serve it."""
        if self._lean_endpoint is False:
            ep = self.endpoint
            try:
                if not s3_http.enabled():
                    raise s3_http.LeanUnsupported("MIGRATE_S3_CLIENT=botocore")
                if ep.url is None or ep.access_key is None or ep.secret_key is None:
                    raise s3_http.LeanUnsupported("AWS itself or the default credential chain")
                self._lean_endpoint = s3_http.Endpoint(
                    ep.url, ep.region, ep.access_key.get_secret_value(), ep.secret_key.get_secret_value()
                )
            except s3_http.LeanUnsupported:
                self._lean_endpoint = None
        return self._lean_endpoint

    def head(self, key: str) -> ObjectInfo | None:
        from botocore.exceptions import ClientError

        try:
            response = self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise MigrateError(f"S3 head {self.label}/{key}: {exc}") from None
        meta = response.get("Metadata", {})
        size = int(meta.get("plain-size", response["ContentLength"]))
        return ObjectInfo(key, size, response["ETag"].strip('"'), meta.get(CHECKSUM_META))

    def get(self, key: str) -> bytes:
        return self.read(key).parts[0]

    def put(
        self, key: str, data: bytes, *, sha256: str, meta: dict[str, str] | None = None, md5: bytes | None = None
    ) -> str:
        return self._without_tags_if_refused(key, meta, lambda kept: self._put(key, data, sha256, kept, md5))

    def _without_tags_if_refused(
        self, key: str, meta: dict[str, str] | None, write: Callable[[dict[str, str] | None], str]
    ) -> str:
        """``write(meta)``; where the server keeps no object tags, again without them (the key is
        then noted as untagged: the copy is complete but for its tags, and says so)."""
        if meta and TAGS_META in meta and not self.no_tagging:
            try:
                return write(meta)
            except TaggingRefused:
                self.no_tagging = True
        if meta and TAGS_META in meta:
            self.note_untagged(key)
            meta = {name: value for name, value in meta.items() if name != TAGS_META}
        return write(meta)

    def _put(self, key: str, data: bytes, sha256: str, meta: dict[str, str] | None, md5: bytes | None) -> str:
        md5 = md5 or hashlib.md5(data).digest()
        content_md5 = base64.b64encode(md5).decode()  # S3 refuses the body unless it matches
        headers, user = split_meta(meta)
        etag = self._lean_put(key, data, {**user, CHECKSUM_META: sha256}, meta or {}, content_md5)
        if etag is None:
            self._refuse_non_ascii(key, meta)
            response = self._call(
                "put",
                self.client.put_object,
                Bucket=self.bucket,
                Key=self.prefix + key,
                Body=data,
                ContentMD5=content_md5,
                Metadata={**user, CHECKSUM_META: sha256},
                **headers,
            )
            etag = str(response["ETag"]).strip('"')
        if etag != md5.hex():
            raise MigrateError(f"{self.label}/{key}: server stored a different MD5 than sent")
        return etag

    def _lean_put(
        self, key: str, data: bytes, user: dict[str, str], meta: dict[str, str], content_md5: str
    ) -> str | None:
        """PUT without botocore; the new ETag, or None when botocore must do it (it re-sends)."""
        lean = self._lean()
        if lean is None:
            return None
        headers = _wire_headers(user, meta)
        headers["Content-MD5"] = content_md5
        try:
            return s3_http.put_object(lean, self.bucket, self.prefix + key, data, headers)
        except s3_http.LeanUnsupported:
            return None

    def _refuse_non_ascii(self, key: str, meta: dict[str, str] | None) -> None:
        """One line naming the header or metadata key botocore cannot write byte-exact (it refuses
        non-ASCII metadata and would re-encode other headers), instead of an altered copy."""
        for name, value in (meta or {}).items():
            if not value.isascii():
                shown = entry_label(name)
                raise MigrateError(
                    f"{self.label}/{key!r}: {shown} holds non-ASCII bytes, which only migrate's direct "
                    "requests to an S3 endpoint URL carry byte-exact and this write had to go through "
                    "botocore: not copied (store it RFC 2047-encoded at the source, as AWS does)"
                )

    def download_to_file(self, key: str, size: int, path: Path, pool: Executor) -> None:
        step = part_size_for(size)
        with path.open("wb") as handle:
            handle.truncate(size)
            fd = handle.fileno()

            def fetch(start: int) -> None:
                end = min(start + step, size) - 1
                response = self._call(
                    "get",
                    self.client.get_object,
                    Bucket=self.bucket,
                    Key=self.prefix + key,
                    Range=f"bytes={start}-{end}",
                )
                data = response["Body"].read()
                if len(data) != end - start + 1:
                    raise MigrateError(f"{self.label}/{key}: short read at byte {start}")
                os.pwrite(fd, data, start)

            for _ in pool.map(fetch, range(0, size, step)):
                pass

    def read(self, key: str) -> Fetched:
        lean = self._lean()
        if lean is not None:
            try:
                body, fields = s3_http.get_object(lean, self.bucket, self.prefix + key)
            except s3_http.LeanUnsupported:
                pass  # botocore repeats the request, with its retries and error reports
            else:
                return Fetched(
                    [body],
                    fields["ETag"].strip('"'),
                    fields["Metadata"].get(CHECKSUM_META),
                    self._with_tags(key, fields),
                )
        response = self._call("get", self.client.get_object, Bucket=self.bucket, Key=self.prefix + key)
        return Fetched(
            [response["Body"].read()],
            str(response["ETag"]).strip('"'),
            response.get("Metadata", {}).get(CHECKSUM_META),
            self._with_tags(key, response),
        )

    def object_meta(self, key: str) -> dict[str, str]:
        lean = self._lean()
        if lean is not None:
            try:
                fields = s3_http.head_object(lean, self.bucket, self.prefix + key)
            except s3_http.LeanUnsupported:
                pass
            else:
                if fields is not None:
                    return self._with_tags(key, fields, from_get=False)
        response = self._call("head", self.client.head_object, Bucket=self.bucket, Key=self.prefix + key)
        return self._with_tags(key, response, from_get=False)

    def _with_tags(self, key: str, response: dict[str, Any], *, from_get: bool = True) -> dict[str, str]:
        """``carried_meta`` of a GET/HEAD answer plus the object's tags (``TAGS_META``).

        A GetObject answer has ``x-amz-tagging-count`` exactly when the object has tags (S3's
        documented behaviour, versitygw's too), so the tags are asked for only then. A HEAD
        answer need not carry the count (AWS's does not): there, no count means ask. A server
        without tagging has none to carry.
        """
        meta = carried_meta(response)
        count = response.get("TagCount")
        if count == 0 or (from_get and count is None):
            return meta
        tags = self.tags(key)
        if tags:
            meta[TAGS_META] = encode_tags(tags)
        return meta

    def tags(self, key: str) -> dict[str, str]:
        """The object's tags; {} where the server has no tagging (NotImplemented)."""
        from botocore.exceptions import ClientError

        lean = self._lean()
        if lean is not None:
            try:
                return s3_http.get_tagging(lean, self.bucket, self.prefix + key)
            except s3_http.LeanUnsupported:
                pass

        def fetch() -> Any:
            try:
                return self.client.get_object_tagging(Bucket=self.bucket, Key=self.prefix + key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in _NO_TAGGING:
                    self.no_tagging = True
                    return {}
                raise

        response = self._call("tagging", fetch)
        return {str(t["Key"]): str(t.get("Value", "")) for t in response.get("TagSet", [])}

    def get_parts(self, key: str, size: int, pool: Executor) -> Fetched:
        """Ranged GETs in parallel; every response must name the same ETag (no change mid-read)."""
        step = part_size_for(size)

        def fetch(start: int) -> tuple[bytes, str, dict[str, Any]]:
            end = min(start + step, size) - 1
            response = self._call(
                "get", self.client.get_object, Bucket=self.bucket, Key=self.prefix + key, Range=f"bytes={start}-{end}"
            )
            data: bytes = response["Body"].read()
            if len(data) != end - start + 1:
                raise MigrateError(f"{self.label}/{key}: short read at byte {start}")
            return data, str(response["ETag"]).strip('"'), response

        if not size:
            return self.read(key)
        fetched = list(pool.map(fetch, range(0, size, step)))
        etags = {etag for _, etag, _ in fetched}
        if len(etags) != 1:
            raise MigrateError(f"{self.label}/{key}: object changed while being read (ETags {sorted(etags)})")
        first = fetched[0][2]
        return Fetched(
            [data for data, _, _ in fetched],
            etags.pop(),
            first.get("Metadata", {}).get(CHECKSUM_META),
            self._with_tags(key, first),
        )

    def put_parts(
        self, key: str, parts: Parts, *, sha256: str, pool: Executor, meta: dict[str, str] | None = None
    ) -> str:
        if len(parts.data) == 1:
            return self.put(key, parts.data[0], sha256=sha256, md5=parts.md5s[0], meta=meta)
        return self._without_tags_if_refused(
            key,
            meta,
            lambda kept: self._multipart(key, len(parts.data), parts.part, sha256=sha256, pool=pool, meta=kept),
        )

    def upload_file(
        self, key: str, path: Path, *, sha256: str, pool: Executor, meta: dict[str, str] | None = None
    ) -> str:
        size = path.stat().st_size
        if size < MULTIPART_THRESHOLD:
            return self.put(key, path.read_bytes(), sha256=sha256, meta=meta)
        step = part_size_for(size)
        with path.open("rb") as handle:
            fd = handle.fileno()

            def read(number: int) -> tuple[bytes, bytes]:
                data = os.pread(fd, step, (number - 1) * step)
                return data, hashlib.md5(data).digest()

            return self._without_tags_if_refused(
                key,
                meta,
                lambda kept: self._multipart(key, -(-size // step), read, sha256=sha256, pool=pool, meta=kept),
            )

    def _multipart(
        self,
        key: str,
        count: int,
        read: Callable[[int], tuple[bytes, bytes]],
        *,
        sha256: str,
        pool: Executor,
        meta: dict[str, str] | None = None,
    ) -> str:
        """Upload parts 1..count (``read(n)`` gives a part and its MD5); check every ETag the server returns."""
        full_key = self.prefix + key
        headers, user = split_meta(meta)
        upload_id = self._lean_create_upload(full_key, {**user, CHECKSUM_META: sha256}, meta or {})
        if upload_id is None:
            self._refuse_non_ascii(key, meta)
            upload = self._call(
                "start upload",
                self.client.create_multipart_upload,
                Bucket=self.bucket,
                Key=full_key,
                Metadata={**user, CHECKSUM_META: sha256},
                **headers,
            )
            upload_id = upload["UploadId"]
        uploads.started(self.endpoint.label, self.bucket, full_key, upload_id)
        try:

            def send(number: int) -> tuple[int, str, bytes]:
                data, md5 = read(number)
                response = self._call(
                    "upload part",
                    self.client.upload_part,
                    Bucket=self.bucket,
                    Key=full_key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=data,
                )
                if str(response["ETag"]).strip('"') != md5.hex():
                    raise MigrateError(f"{self.label}/{key}: part {number} stored with a different MD5 than sent")
                return number, str(response["ETag"]), md5

            parts = list(pool.map(send, range(1, count + 1)))
            response = self._call(
                "complete upload",
                self.client.complete_multipart_upload,
                Bucket=self.bucket,
                Key=full_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": n} for n, etag, _ in parts]},
            )
        except BaseException:
            with contextlib.suppress(Exception):  # best effort; the original error matters
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=upload_id)
                uploads.ended(self.endpoint.label, self.bucket, upload_id)  # else the next run aborts it
            raise
        uploads.ended(self.endpoint.label, self.bucket, upload_id)
        etag = str(response["ETag"]).strip('"')
        expected = multipart_etag([md5 for _, _, md5 in parts])
        if etag != expected:
            raise MigrateError(f"{self.label}/{key}: multipart ETag {etag} differs from the parts sent ({expected})")
        return etag

    def _lean_create_upload(self, full_key: str, user: dict[str, str], meta: dict[str, str]) -> str | None:
        """CreateMultipartUpload without botocore (headers byte-exact as ``_lean_put``); None: use botocore."""
        lean = self._lean()
        if lean is None:
            return None
        try:
            return s3_http.create_multipart_upload(lean, self.bucket, full_key, _wire_headers(user, meta))
        except s3_http.LeanUnsupported:
            return None

    def delete(self, key: str) -> None:
        self._call("delete", self.client.delete_object, Bucket=self.bucket, Key=self.prefix + key)

    def abort_orphaned_uploads(self) -> int:
        """Abort each upload a dead migrate process started here, by the id the server gave it."""
        from botocore.exceptions import ClientError

        aborted = 0
        for upload in uploads.orphans(self.endpoint.label, self.bucket):
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload.key, UploadId=upload.upload_id)
                aborted += 1
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("NoSuchUpload", "404"):
                    raise MigrateError(
                        f"cannot abort migrate's unfinished upload of {upload.key!r} at {self.label}: "
                        f"{exc.response.get('Error', {}).get('Code', 'error')}"
                    ) from None
            uploads.ended(self.endpoint.label, self.bucket, upload.upload_id)
        return aborted


def _wire_headers(user: dict[str, str], meta: dict[str, str]) -> dict[str, str]:
    """The HTTP headers that write an object's headers, user metadata and tags."""
    headers = {name: value for name, value in meta.items() if name in HEADER_PARAMS}
    if meta.get(TAGS_META):
        headers["x-amz-tagging"] = meta[TAGS_META]
    headers |= {f"x-amz-meta-{name}": value for name, value in user.items()}
    return headers


META_DIR = ".migrate-meta"


class DirStore(ObjectStore):
    """Objects as files under a directory; their ETag (MD5) and sha256 in sidecar JSON files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.label = str(root)

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or parts[0] == META_DIR:
            raise InputError(f"object key {key!r} cannot be stored as a file under {self.root}")
        return self.root.joinpath(*parts)

    def _meta_path(self, key: str) -> Path:
        return self.root / META_DIR / (key + ".json")

    def check(self, create: bool = False) -> None:
        if create:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise MigrateError(f"cannot create {self.root}: {exc.strerror}") from None
        if not self.root.is_dir():
            raise MigrateError(f"{self.root} is not a directory")

    def list(self) -> dict[str, ObjectInfo]:
        found: dict[str, ObjectInfo] = {}
        if not self.root.is_dir():
            return found
        for directory, dirs, files in os.walk(self.root):
            if Path(directory) == self.root and META_DIR in dirs:
                dirs.remove(META_DIR)
            for name in files:
                if name.startswith(".migrate-tmp-"):
                    continue
                path = Path(directory) / name
                key = path.relative_to(self.root).as_posix()
                meta = self._read_meta(key)
                size = path.stat().st_size
                etag = meta.get("etag", "") if meta.get("size") == size else ""
                found[key] = ObjectInfo(key, size, etag)
        return found

    def _read_meta(self, key: str) -> dict[str, Any]:
        """Flat: the object's headers and metadata, then migrate's own fields over them."""
        from migrate.inputfiles import MIB, read_input_file

        try:
            loaded: dict[str, Any] = json.loads(read_input_file(self._meta_path(key), MIB, "object metadata"))
        except (InputError, ValueError):
            return {}
        if not isinstance(loaded, dict):
            return {}
        if isinstance(loaded.get("meta"), dict):
            return {**loaded["meta"], **{k: v for k, v in loaded.items() if k != "meta"}}
        return loaded

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        if not path.exists():
            return None
        meta = self._read_meta(key)
        size = path.stat().st_size
        if meta.get("size") != size:
            meta = {}
        return ObjectInfo(key, int(meta.get("plain-size", size)), meta.get("etag", ""), meta.get("sha256"))

    def object_meta(self, key: str) -> dict[str, str]:
        try:
            loaded: dict[str, Any] = json.loads(self._meta_path(key).read_text())
        except (OSError, ValueError):
            return {}
        stored = loaded.get("meta", {})
        return {str(k): str(v) for k, v in stored.items() if k not in OWN_META}

    def read(self, key: str) -> Fetched:
        return Fetched([self.get(key)], meta=self.object_meta(key))

    def get(self, key: str) -> bytes:
        from migrate.inputfiles import read_input_file

        # a regular file only: a FIFO or device planted in the directory must not hang a restore
        try:
            return read_input_file(self._path(key), 1 << 40, "stored object")
        except InputError as exc:
            raise MigrateError(str(exc)) from None

    def _commit(self, key: str, tmp: Path, etag: str, sha256: str, meta: dict[str, str] | None) -> str:
        path = self._path(key)
        size = tmp.stat().st_size
        os.replace(tmp, path)
        meta_path = self._meta_path(key)
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        tmp_meta = meta_path.with_name(".migrate-tmp-" + meta_path.name)
        tmp_meta.write_text(json.dumps({"size": size, "etag": etag, "sha256": sha256, "meta": meta or {}}))
        os.replace(tmp_meta, meta_path)
        return etag

    def _tmp(self, key: str) -> Path:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".migrate-tmp-", dir=path.parent)
        os.close(fd)
        return Path(name)

    def put(
        self, key: str, data: bytes, *, sha256: str, meta: dict[str, str] | None = None, md5: bytes | None = None
    ) -> str:
        tmp = self._tmp(key)
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return self._commit(key, tmp, (md5 or hashlib.md5(data).digest()).hex(), sha256, meta)

    def download_to_file(self, key: str, size: int, path: Path, pool: Executor) -> None:
        import shutil

        shutil.copyfile(self._path(key), path)

    def upload_file(
        self, key: str, path: Path, *, sha256: str, pool: Executor, meta: dict[str, str] | None = None
    ) -> str:
        tmp = self._tmp(key)
        md5 = hashlib.md5()
        with path.open("rb") as source, tmp.open("wb") as handle:
            while chunk := source.read(4 * MIB):
                md5.update(chunk)
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        return self._commit(key, tmp, md5.hexdigest(), sha256, meta)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
        self._meta_path(key).unlink(missing_ok=True)
