"""An S3-compatible server on one address and port: moto in server mode."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from providers.local.servers import process


@dataclass
class S3Server(process.ListeningServer):
    """moto keeps objects in memory: a killed server loses them, as a dead host would."""

    host: str
    port: int
    log_path: Path
    pid: int | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> int:
        if self.pid and process.alive(self.pid):
            return self.pid
        self.pid = process.start_server(
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
            self.log_path,
            ready=self.listening,
            what=f"S3 server on {self.host}:{self.port}",
            timeout=timeout,
        )
        return self.pid


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
