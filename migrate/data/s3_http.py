"""S3 requests without a botocore client: bucket listings, whole-object GETs and PUTs.

Why: botocore costs ~3-4 ms of CPU per request (events, serialisation, signing, urllib3,
parsing) against ~1 ms here, and on a copy between two S3 servers sharing a machine the client's
CPU is taken from the servers. An unchanged re-sync is two listings, and importing botocore and
building a client (the S3 model, the endpoint rules) cost more CPU than the servers spend
listing 2,000 objects. Here a request is ``http.client`` + ``xml.etree``, signed with
``hmac`` (SigV4; ``sign`` says why not botocore's signer). Tests check that the requests built
here sign exactly as botocore's client signs the same call. Anything but a plain answer (a
refusal, a redirect, odd XML, a dropped connection) raises ``LeanUnsupported`` and the caller
repeats the call through botocore, which retries and reports errors as always: an odd server
loses speed, never correctness. Whole-object PUTs go the same way (``UNSIGNED-PAYLOAD``: the
caller checks the ETag the server returns against the MD5 it computed); a multipart upload
begins here (so its headers go out as PUT's do) and continues with botocore. Header values are
sent as the bytes they were read as, so a raw UTF-8 value survives byte-exact, which botocore
cannot do (it refuses non-ASCII metadata and signs other headers as UTF-8 of what it was given).
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import hmac
import http.client
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote_plus, urlsplit
from xml.etree import ElementTree

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
PAGE_SIZE = 1000  # S3's maximum
_local = threading.local()


def enabled() -> bool:
    """False when ``MIGRATE_S3_CLIENT=botocore`` asks for botocore alone (a server these requests
    do not suit, or to measure the difference: bench/media_sync.py)."""
    import os

    return os.environ.get("MIGRATE_S3_CLIENT", "").strip().lower() != "botocore"


class LeanUnsupported(Exception):
    """This request needs botocore (an error answer, a redirect, odd XML, a dropped connection)."""


class BucketMissing(Exception):
    """The server answered NoSuchBucket."""


def _quote(value: str) -> str:
    return quote(value, safe="-_.~")


UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


def sign(
    method: str,
    url: str,
    query: dict[str, str],
    headers: dict[str, str],
    *,
    region: str,
    access_key: str,
    secret_key: str,
    payload: str = EMPTY_SHA256,
) -> dict[str, str]:
    """``headers`` plus what authenticates the request: AWS Signature Version 4 as S3 takes it.

    ``url``'s path is not encoded yet; header values are signed as the bytes http.client sends
    (Latin-1, one byte per character: what the server hashes). ``payload``: ``EMPTY_SHA256`` (no body) or
    ``UNSIGNED_PAYLOAD`` (integrity then comes from the ETag check). Byte for byte what
    botocore's ``S3SigV4Auth`` writes for the same request (the tests compare the two): the
    algorithm is AWS's published one, and importing botocore's signer costs ~0.3 s of CPU
    (``botocore.auth`` pulls in urllib3 and botocore's utilities), as much as the servers spend
    listing 1,000 objects, on every command that touches media.
    """
    parts = urlsplit(url)
    path = quote(parts.path or "/", safe="/~")
    canonical_query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(query.items()))
    stamp = _utcnow().strftime("%Y%m%dT%H%M%SZ")
    signed = {**headers, "X-Amz-Date": stamp, "X-Amz-Content-SHA256": payload}
    canonical = {
        name.lower(): " ".join(value.split()) for name, value in signed.items() if name.lower() not in _NOT_SIGNED
    }
    canonical.setdefault("host", _canonical_host(parts.scheme, parts.netloc))
    names = sorted(canonical)
    signed_names = ";".join(names)
    request = "\n".join(
        [method, path, canonical_query, *(f"{n}:{canonical[n]}" for n in names), "", signed_names, payload]
    )
    scope = f"{stamp[:8]}/{region}/s3/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(request.encode('latin-1')).hexdigest()}"
    signature = hmac.new(_signing_key(secret_key, stamp[:8], region), to_sign.encode(), hashlib.sha256).hexdigest()
    signed["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed_names}, Signature={signature}"
    )
    return signed


# Headers SigV4 leaves out of the signature (botocore's SIGNED_HEADERS_BLACKLIST): proxies may change them.
_NOT_SIGNED = frozenset(
    {
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _canonical_host(scheme: str, netloc: str) -> str:
    """The Host header as http.client sends it: lower case, no default port."""
    host = netloc.rpartition("@")[2].lower()
    default = {"http": ":80", "https": ":443"}.get(scheme, "")
    return host[: -len(default)] if default and host.endswith(default) else host


@functools.lru_cache(maxsize=16)
def _signing_key(secret_key: str, day: str, region: str) -> bytes:
    """The day's key for one region: four HMACs, once a day rather than once a request."""
    key = ("AWS4" + secret_key).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


class Endpoint:
    """Where and as whom to send GETs: an S3-compatible endpoint URL with static keys, path-style."""

    def __init__(
        self,
        url: str,
        region: str,
        access_key: str,
        secret_key: str,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 120.0,
    ) -> None:  # botocore's settings in ``endpoints.S3Endpoint.client``
        parts = urlsplit(url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise LeanUnsupported(url)
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.base = f"{parts.scheme}://{parts.netloc}{parts.path}"
        self.base_path = parts.path
        self.region, self.access_key, self.secret_key = region, access_key, secret_key
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout

    def get(self, path: str, query: dict[str, str] | None = None) -> tuple[int, bytes, http.client.HTTPMessage]:
        """One signed GET of ``path`` (below the endpoint's base path, not encoded)."""
        return self.request("GET", path, query or {})

    def request(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> tuple[int, bytes, http.client.HTTPMessage]:
        """One signed request on this thread's connection to the endpoint.

        Sent once more on a fresh connection if a kept-alive one turns out closed (GET and PUT of
        a whole object are idempotent); any other failure raises ``LeanUnsupported``.
        """
        signed = sign(
            method,
            self.base + path,
            query,
            headers or {},
            region=self.region,
            access_key=self.access_key,
            secret_key=self.secret_key,
            payload=EMPTY_SHA256 if body is None else UNSIGNED_PAYLOAD,
        )
        target = quote(self.base_path + path, safe="/~")
        if query:
            target += "?" + "&".join(f"{_quote(k)}={_quote(v)}" for k, v in query.items())
        for attempt in (1, 2):
            conn = self._connection()
            try:
                if conn.sock is None:
                    conn.connect()  # under the connect timeout, then reads and writes get theirs
                    opened: Any = conn.sock
                    opened.settimeout(self.read_timeout)
                conn.request(method, target, body=body, headers=signed)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException, ValueError) as exc:  # ValueError: a header http refuses
                self._drop()
                if attempt == 2 or not isinstance(
                    exc, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
                ):
                    raise LeanUnsupported(f"{method} {path}: {exc}") from None
                continue
            if response.will_close:
                self._drop()
            return response.status, data, response.headers
        raise AssertionError("unreachable")

    def _connection(self) -> http.client.HTTPConnection:
        pool: dict[tuple[str, str, int | None], http.client.HTTPConnection] = _local.__dict__.setdefault("pool", {})
        conn = pool.get((self.scheme, self.host, self.port))
        if conn is None:
            if self.scheme == "http":
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.connect_timeout)
            else:
                import os
                import ssl

                context = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None)
                conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.connect_timeout, context=context)
            pool[(self.scheme, self.host, self.port)] = conn
        return conn

    def _drop(self) -> None:
        conn = _local.__dict__.get("pool", {}).pop((self.scheme, self.host, self.port), None)
        if conn is not None:
            conn.close()


def list_bucket(endpoint: Endpoint, bucket: str, prefix: str) -> Iterator[tuple[str, int, str]]:
    """(key, size, ETag without quotes) of every object under ``prefix``."""
    for page in list_pages(endpoint, bucket, prefix):
        yield from page


def list_pages(endpoint: Endpoint, bucket: str, prefix: str) -> Iterator[list[tuple[str, int, str]]]:
    """The listing a page (up to 1,000 objects) at a time, each as soon as the server returns it."""
    token: str | None = None
    while True:
        query = {"list-type": "2", "encoding-type": "url", "max-keys": str(PAGE_SIZE), "prefix": prefix}
        if token:
            query["continuation-token"] = token
        status, body, _ = endpoint.get(f"/{bucket}", query)
        root = _listing(status, body)
        # Keys are URL-encoded only when the answer says so, as botocore decodes them: a server may
        # ignore encoding-type (versitygw 1.8 does) and send them as they are.
        encoded = root.findtext(f"{_NS}EncodingType") == "url"
        page = []
        for item in root.iter(f"{_NS}Contents"):
            key, size, etag = (item.findtext(f"{_NS}{name}") for name in ("Key", "Size", "ETag"))
            if key is None or size is None or etag is None:
                raise LeanUnsupported("a listed object without Key, Size or ETag")
            page.append((unquote_plus(key) if encoded else key, int(size), etag.strip('"')))
        yield page
        if root.findtext(f"{_NS}IsTruncated") != "true":
            return
        token = root.findtext(f"{_NS}NextContinuationToken")
        if not token:
            raise LeanUnsupported("truncated listing without a continuation token")


def _xml(body: bytes, what: str) -> ElementTree.Element:
    """A response body as XML; anything else means the lean path cannot go on (botocore can)."""
    try:
        return ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise LeanUnsupported(f"{what}: not XML") from None


def _listing(status: int, body: bytes) -> ElementTree.Element:
    root = _xml(body, f"HTTP {status}")
    if status == 200 and root.tag == f"{_NS}ListBucketResult":
        return root
    if (root.findtext("Code") or root.findtext(f"{_NS}Code")) == "NoSuchBucket":
        raise BucketMissing()
    raise LeanUnsupported(f"HTTP {status}")


# Response headers as botocore names them in a GetObject response (what ``stores.carried_meta`` reads).
_HEADER_FIELDS = {
    "etag": "ETag",
    "content-type": "ContentType",
    "cache-control": "CacheControl",
    "content-disposition": "ContentDisposition",
    "content-encoding": "ContentEncoding",
    "content-language": "ContentLanguage",
    "expires": "ExpiresString",
}


def get_object(endpoint: Endpoint, bucket: str, key: str) -> tuple[bytes, dict[str, Any]]:
    """The object's bytes and the GetObject fields migrate reads (ETag, headers, ``Metadata``, ``TagCount``)."""
    status, body, headers = endpoint.get(f"/{bucket}/{key}")
    if status != 200:
        raise LeanUnsupported(f"HTTP {status}")
    return body, _object_fields(headers)


def head_object(endpoint: Endpoint, bucket: str, key: str) -> dict[str, Any] | None:
    """The HeadObject fields migrate reads (as ``get_object``), or None when the object is absent."""
    status, _, headers = endpoint.request("HEAD", f"/{bucket}/{key}", {})
    if status == 404:
        return None
    if status != 200:
        raise LeanUnsupported(f"HTTP {status}")
    fields = _object_fields(headers)
    fields["ContentLength"] = int(headers.get("Content-Length", "0"))
    return fields


def get_tagging(endpoint: Endpoint, bucket: str, key: str) -> dict[str, str]:
    """The object's tags (GetObjectTagging)."""
    status, body, _ = endpoint.get(f"/{bucket}/{key}", {"tagging": ""})
    if status != 200:
        raise LeanUnsupported(f"HTTP {status}")
    root = _xml(body, "tagging")
    tags: dict[str, str] = {}
    for tag in root.iter():
        if tag.tag.rpartition("}")[2] != "Tag":
            continue
        found = {child.tag.rpartition("}")[2]: child.text or "" for child in tag}
        if "Key" not in found:
            raise LeanUnsupported("a tag without Key")
        tags[found["Key"]] = found.get("Value", "")
    return tags


def _object_fields(headers: http.client.HTTPMessage) -> dict[str, Any]:
    fields: dict[str, Any] = {"Metadata": {}}
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith("x-amz-meta-"):
            fields["Metadata"][lower[len("x-amz-meta-") :]] = value
        elif lower in _HEADER_FIELDS:
            fields[_HEADER_FIELDS[lower]] = value
        elif lower == "x-amz-tagging-count":
            fields["TagCount"] = int(value) if value.isdigit() else None
        elif lower == "x-amz-server-side-encryption-customer-algorithm":
            raise LeanUnsupported("SSE-C object")
    if "ETag" not in fields:
        raise LeanUnsupported("no ETag")
    return fields


def sendable(value: str) -> bool:
    """True when ``value`` is one byte per character, as http.client sends (and we sign) a header."""
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def create_multipart_upload(endpoint: Endpoint, bucket: str, key: str, headers: dict[str, str]) -> str:
    """Begin a multipart upload with ``headers`` (as ``put_object`` sends them); return its UploadId."""
    if not all(name.isascii() and sendable(value) for name, value in headers.items()):
        raise LeanUnsupported("a header value that is not one byte per character")
    status, body, _ = endpoint.request("POST", f"/{bucket}/{key}", {"uploads": ""}, headers, b"")
    if status != 200:
        raise LeanUnsupported(f"HTTP {status}")
    root = _xml(body, "multipart upload")
    upload_id = root.findtext(f"{_NS}UploadId") or root.findtext("UploadId")
    if not upload_id:
        raise LeanUnsupported("no UploadId")
    return upload_id


def put_object(endpoint: Endpoint, bucket: str, key: str, body: bytes, headers: dict[str, str]) -> str:
    """Store ``body`` with ``headers`` (Content-Type, x-amz-meta-*...); return the ETag the server gives.

    Header values go out as the bytes they were read as: a value holding UTF-8 (which a server such
    as versitygw keeps and returns raw) arrives from ``get_object`` as one character per byte
    (http.client reads headers as Latin-1) and is sent, and signed, as those same bytes.
    """
    if not all(name.isascii() and sendable(value) for name, value in headers.items()):
        raise LeanUnsupported("a header value that is not one byte per character")
    status, _, answer = endpoint.request("PUT", f"/{bucket}/{key}", {}, headers, body)
    etag = answer.get("ETag")
    if status != 200 or not etag:
        raise LeanUnsupported(f"HTTP {status}")
    return etag.strip('"')
