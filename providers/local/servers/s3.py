"""A real S3 server on one address and port: versitygw's posix backend, objects as files on disk.

versitygw (Apache-2.0) keeps each object as a plain file under ``data_dir/<bucket>/<key>`` with
its ETag and checksums in extended attributes, so a killed server's objects are still on the
target's disk, as its Postgres data is. ``scripts/bootstrap`` builds the binary from the Go
module proxy once and caches it (:func:`versitygw_binary`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrate.errors import MigrateError
from migrate.private_files import make_private_dir, write_private_file
from providers.local.servers import process

VERSITYGW_VERSION = "v1.8.0"


def versitygw_binary() -> Path:
    """The versitygw executable: ``$MIGRATE_VERSITYGW``, else the one ``scripts/bootstrap`` cached."""
    override = os.environ.get("MIGRATE_VERSITYGW")
    if override:
        path = Path(override)
    else:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        path = cache / "migrate" / f"versitygw-{VERSITYGW_VERSION}" / "versitygw"
    if not os.access(path, os.X_OK):
        raise MigrateError(f"versitygw not found at {path}: run scripts/bootstrap (it builds and caches it)")
    return path


@dataclass
class S3Server(process.ListeningServer):
    """versitygw serving ``data_dir`` on ``host:port`` for one key pair.

    The key pair is an account of versitygw's internal IAM, in ``iam_dir/users.json`` (0600 in a
    0700 directory), never in the server's argv (every local user can read it) nor its
    environment. versitygw also insists on a root key pair, which it reads from argv or the
    environment only: that one is a random throwaway made at each start, given to nobody and
    stored nowhere, so what sits in the server's environment is no key anyone holds.
    ``event_webhook_url``: where versitygw POSTs an S3-format
    event for every change (it sends a test event at start and exits if nobody answers).
    """

    host: str
    port: int
    data_dir: Path
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    event_webhook_url: str | None = None
    access_log: bool = False  # one line per request (S3's server access log format) in access_log_path
    pid: int | None = None

    @property
    def endpoint(self) -> str:
        return self.http_url()

    @property
    def iam_dir(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.iam"

    def _write_account(self) -> None:
        account: dict[str, str | int] = {"access": self.access_key, "secret": self.secret_key, "role": "admin"}
        account.update({"userID": 0, "groupID": 0, "projectID": 0})
        make_private_dir(self.iam_dir)
        write_private_file(self.iam_dir / "users.json", json.dumps({"accessAccounts": {self.access_key: account}}))

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    @property
    def access_log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.access.log"

    def start(self, timeout: float = 30.0) -> int:
        if self.pid and process.alive(self.pid):
            return self.pid
        binary = versitygw_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        self._write_account()
        argv = [str(binary), "--port", f"{self.host}:{self.port}", "--region", self.region, "--quiet"]
        argv += ["--iam-dir", str(self.iam_dir)]
        if self.access_log:
            argv += ["--access-log", str(self.access_log_path)]
        if self.event_webhook_url:
            argv += ["--event-webhook-url", self.event_webhook_url]
        argv += ["posix", str(self.data_dir)]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "ROOT_ACCESS_KEY": "root-" + secrets.token_hex(8),  # a throwaway: see the class docstring
            "ROOT_SECRET_KEY": secrets.token_urlsafe(30),
        }
        self.pid = process.start_server(
            argv,
            self.log_path,
            ready=self.listening,
            what=f"S3 server (versitygw) on {self.host}:{self.port}",
            timeout=timeout,
            env=env,
        )
        return self.pid

    def remove_data(self) -> None:
        """Delete the objects and the log (a stopped server's; used by tests and benches)."""
        shutil.rmtree(self.data_dir, ignore_errors=True)
        shutil.rmtree(self.iam_dir, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)
        self.access_log_path.unlink(missing_ok=True)


def s3_client(endpoint: str, access_key: str, secret_key: str, region: str = "us-east-1") -> Any:
    """A boto3 S3 client for an S3-compatible endpoint (path-style addressing)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}, max_pool_connections=32),
    )
