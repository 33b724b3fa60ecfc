"""Settings from environment variables only: the deployers set exactly these names.

DATABASE_URL, S3_ENDPOINT, S3_REGION, S3_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY, REDIS_URL,
CHIRP_SESSION_KEY, CHIRP_LOG_LEVEL (and the optional CHIRP_MAX_UPLOAD_MB).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

REQUIRED = ("DATABASE_URL", "S3_BUCKET")


class ConfigError(Exception):
    """A missing or malformed environment variable; the message names it (never its value)."""


@dataclass(frozen=True)
class Settings:
    database_url: str = field(repr=False)
    s3_bucket: str
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key: str | None = field(default=None, repr=False)
    s3_secret_key: str | None = field(default=None, repr=False)
    redis_url: str | None = field(default=None, repr=False)
    session_key: str | None = field(default=None, repr=False)
    log_level: str = "INFO"
    max_upload_bytes: int = 10 * 1024 * 1024

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, required: tuple[str, ...] = REQUIRED) -> Settings:
        """Read the environment; ``required`` names variables that must be non-empty."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        missing = [name for name in required if not get(name)]
        if missing:
            raise ConfigError(f"missing environment variable(s): {', '.join(missing)}")
        database_url = get("DATABASE_URL") or ""
        if not database_url.startswith(("postgresql://", "postgres://")):
            raise ConfigError("DATABASE_URL must look like postgresql://user:pass@host:port/db")
        try:
            from psycopg.conninfo import conninfo_to_dict

            conninfo_to_dict(database_url)
        except Exception:  # the parser's message may quote the URL, password included
            raise ConfigError("DATABASE_URL is not a valid connection URL") from None
        level = (get("CHIRP_LOG_LEVEL") or "info").upper()
        if level not in logging.getLevelNamesMapping():
            raise ConfigError(f"CHIRP_LOG_LEVEL: unknown level {level.lower()!r}")
        try:
            upload_mb = float(get("CHIRP_MAX_UPLOAD_MB") or "10")
        except ValueError:
            raise ConfigError("CHIRP_MAX_UPLOAD_MB must be a number of megabytes") from None
        return cls(
            database_url=database_url,
            s3_bucket=get("S3_BUCKET") or "",
            s3_endpoint=get("S3_ENDPOINT"),
            s3_region=get("S3_REGION") or "us-east-1",
            s3_access_key=get("S3_ACCESS_KEY"),
            s3_secret_key=get("S3_SECRET_KEY"),
            redis_url=get("REDIS_URL"),
            session_key=get("CHIRP_SESSION_KEY"),
            log_level=level,
            max_upload_bytes=int(upload_mb * 1024 * 1024),
        )

    def describe(self) -> dict[str, str]:
        """Where chirp points, safe to log: hosts and names, never passwords or keys."""
        from psycopg.conninfo import conninfo_to_dict

        db = conninfo_to_dict(self.database_url)
        return {
            "database": f"{db.get('host', '')}:{db.get('port', 5432)}/{db.get('dbname', '')}",
            "s3": f"{self.s3_endpoint or 'aws-default'} bucket={self.s3_bucket}",
            "redis": "configured" if self.redis_url else "off",
        }


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
