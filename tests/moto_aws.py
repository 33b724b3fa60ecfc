"""moto in server mode as the tests' AWS (Route 53, Route 53 Domains, S3 notifications into SQS):
an emulator of AWS's own APIs, never the sandbox's object store (that is a real S3 server)."""

from __future__ import annotations

import sys
from pathlib import Path

from providers.local.servers import process


class MotoAws(process.ListeningServer):
    """Every AWS service moto emulates, on one port."""

    def __init__(self, host: str, port: int, log_path: Path) -> None:
        self.host, self.port, self.log_path = host, port, log_path
        self.pid: int | None = None

    @property
    def endpoint(self) -> str:
        return self.http_url()

    def start(self, timeout: float = 30.0) -> int:
        if self.pid and process.alive(self.pid):
            return self.pid
        self.pid = process.start_server(
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
            self.log_path,
            ready=self.listening,
            what=f"moto (AWS emulator) on {self.host}:{self.port}",
            timeout=timeout,
        )
        return self.pid
