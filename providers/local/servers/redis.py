"""A real redis-server on one address and port."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from migrate.errors import MigrateError
from migrate.private_files import write_private_file
from providers.local.servers import process


@dataclass
class RedisServer(process.ListeningServer):
    host: str
    port: int
    data_dir: Path
    password: str
    pid: int | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@{self.host}:{self.port}/0"

    def start(self, timeout: float = 15.0) -> int:
        if self.pid and process.alive(self.pid):
            return self.pid
        binary = shutil.which("redis-server")
        if not binary:
            raise MigrateError("redis-server not found: install redis-server (scripts/bootstrap)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "redis.conf"
        write_private_file(  # it holds requirepass: 0600 from its first byte
            conf,
            f"bind {self.host}\nport {self.port}\nrequirepass {self.password}\n"
            f'dir {self.data_dir}\nsave ""\nappendonly no\ndaemonize no\n'
            "protected-mode no\n",
        )
        log = self.data_dir / "redis.log"
        self.pid = process.start_server(
            [binary, str(conf)], log, ready=self.listening, what=f"Redis on {self.host}:{self.port}", timeout=timeout
        )
        return self.pid
