"""Env values computed from a target's outputs: ``{db.host}``, ``{bucket.media}``, ``{s3.tls}``…

An app reads its configuration in its own shape (separate host and port, a bucket per purpose,
TLS on or off); the spec says which variable gets which part, so no wrapper script is needed:

    env:
      DB_HOST: "{db.host}"
      DB_PASSWORD: "{db.password}"      # a secret part: the variable is kept secret
      S3_MEDIA_BUCKET: "{bucket.media}"  # the target's name of the spec's bucket ``media``

The same values are computed at deploy time by every stack and by ``migrate exec``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

REF = re.compile(r"\{((?:db|s3|redis|bucket|service)\.[A-Za-z0-9_-]+)\}")
PARTS = {
    "db": ("url", "host", "port", "name", "user", "password", "sslmode"),
    "s3": ("endpoint", "host", "port", "tls", "region", "access_key", "secret_key"),
    "redis": ("url", "host", "port", "tls"),
    "service": ("domain", "url", "tls"),
}
SECRET_PARTS = frozenset({"db.url", "db.password", "s3.access_key", "s3.secret_key", "redis.url"})


def refs(value: str) -> list[str]:
    return REF.findall(value)


def problems(spec: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """Unknown or unavailable references in the spec's env and files, as (field path, message)."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    buckets = {b.name for b in spec.media.buckets} if spec.media else set()
    sections = {"db": spec.postgres is not None, "s3": spec.media is not None, "redis": spec.redis is not None}
    envs: list[tuple[tuple[str | int, ...], dict[str, str]]] = [(("env",), spec.env)]
    envs += [(("processes", name, "env"), p.env) for name, p in spec.processes.items()]
    envs += [(("processes", name, "files"), p.files) for name, p in spec.processes.items()]
    for where, env in envs:
        for key, value in env.items():
            for ref in refs(value):
                section, _, part = ref.partition(".")
                if section == "bucket":
                    if part not in buckets:
                        found.append(((*where, key), f"{{{ref}}}: no bucket {part!r} in media.buckets"))
                elif part not in PARTS[section]:
                    found.append(((*where, key), f"{{{ref}}}: unknown; {section} has {', '.join(PARTS[section])}"))
                elif section in sections and not sections[section]:
                    found.append(((*where, key), f"{{{ref}}}: the spec declares no {section}"))
    return found


def is_secret(value: str) -> bool:
    return any(ref in SECRET_PARTS for ref in refs(value))


def _url_parts(prefix: str, url: str | None, default_port: int) -> dict[str, str]:
    if not url:
        return {}
    split = urlsplit(url)
    parts = {
        f"{prefix}.url": url,
        f"{prefix}.host": split.hostname or "",
        f"{prefix}.port": str(split.port or default_port),
        f"{prefix}.tls": "true" if split.scheme in ("https", "rediss") else "false",
    }
    if prefix == "db":
        query = dict(p.split("=", 1) for p in split.query.split("&") if "=" in p)
        parts.update(
            {
                "db.name": split.path.lstrip("/"),
                "db.user": unquote(split.username or ""),
                "db.password": unquote(split.password or ""),
                "db.sslmode": query.get("sslmode", "prefer"),
            }
        )
        del parts["db.tls"]
    return parts


def parts(
    *,
    domain: str,
    public_url: str = "",
    database_url: str | None = None,
    s3_endpoint: str | None = None,
    s3_region: str | None = None,
    s3_buckets: Mapping[str, str] | None = None,
    s3_access_key: str | None = None,
    s3_secret_key: str | None = None,
    redis_url: str | None = None,
    tls: bool = False,
) -> dict[str, str]:
    """Every reference's value for one target (absent services give no values). ``service.url``
    is the address users reach (``https://DOMAIN`` with TLS); ``public_url`` is unused today."""
    del public_url
    values = {
        "service.domain": domain,
        "service.url": f"{'https' if tls else 'http'}://{domain}",
        "service.tls": "true" if tls else "false",
    }
    values.update(_url_parts("db", database_url, 5432))
    values.update(_url_parts("redis", redis_url, 6379))
    if s3_endpoint:
        s3 = _url_parts("s3", s3_endpoint, 443 if s3_endpoint.startswith("https") else 80)
        values.update({k: v for k, v in s3.items() if k != "s3.url"})
        values["s3.endpoint"] = s3_endpoint
        values["s3.region"] = s3_region or "us-east-1"
        values["s3.access_key"] = s3_access_key or ""
        values["s3.secret_key"] = s3_secret_key or ""
    for name, real in (s3_buckets or {}).items():
        values[f"bucket.{name}"] = real
    return values


def expand(value: str, values: Mapping[str, str]) -> str:
    """``value`` with each reference replaced (a reference without a value here is an error)."""

    def one(match: re.Match[str]) -> str:
        ref = match.group(1)
        if ref not in values:
            raise KeyError(f"{{{ref}}} has no value on this target")
        return values[ref]

    return REF.sub(one, value)


def from_outputs(spec: Any, out: Any) -> dict[str, str]:
    """The reference values of a deployed target, from its outputs (``migrate exec``)."""

    def reveal(secret: Any) -> str | None:
        return secret.get_secret_value() if secret is not None else None

    return parts(
        domain=spec.service.domain,
        public_url=out.health_url,
        tls=out.health_url.startswith("https:"),
        database_url=reveal(out.database_url),
        s3_endpoint=out.s3_endpoint,
        s3_region=out.s3_region,
        s3_buckets=out.s3_buckets,
        s3_access_key=reveal(out.s3_access_key),
        s3_secret_key=reveal(out.s3_secret_key),
        redis_url=reveal(out.redis_url),
    )
