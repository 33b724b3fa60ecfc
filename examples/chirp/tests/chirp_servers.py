"""Real servers for chirp's tests, on loopback: Postgres 15, an S3 server (versitygw), Redis, and
chirp's own processes. Each is a context manager that cleans up after itself.

The backing servers are the project's own launchers (providers/local/servers), each given a
throwaway directory; chirp's processes stay plain child processes the tests can signal.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any, Self

import httpx

from providers.local.servers.postgres import PostgresServer
from providers.local.servers.process import free_port
from providers.local.servers.redis import RedisServer
from providers.local.servers.s3 import S3Server

CHIRP_ROOT = Path(__file__).resolve().parents[1]  # examples/chirp
HOST = "127.0.0.1"


def wait_until(
    check: Any, timeout: float, what: str, proc: subprocess.Popen[Any] | None = None, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not become ready in {timeout}s\n{tail}")


def scratch_dir(name: str) -> Path:
    """A throwaway directory under /tmp the postgres user can reach (pytest's tmp is 0700)."""
    directory = Path(tempfile.mkdtemp(prefix=f"chirp-{name}-", dir="/tmp"))
    directory.chmod(0o755)
    return directory


class Throwaway:
    """A server as a context manager: started on enter; stopped, its directory removed, on exit.

    Mixed in after a launcher class, whose ``start``/``stop`` it calls.
    """

    dir: Path

    def start(self) -> object:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.cleanup()


class Postgres(Throwaway):
    """A throwaway Postgres 15 cluster; chirp logs in with its own role over TCP."""

    def __init__(self, user: str = "chirp", database: str = "chirp") -> None:
        self.user, self.database = user, database
        self.password = secrets.token_urlsafe(16)
        self.dir = scratch_dir("pg")
        self.server = PostgresServer(
            data_dir=self.dir / "data", host=HOST, port=free_port(HOST), superuser_password=secrets.token_urlsafe(16)
        )

    @property
    def url(self) -> str:
        return self.server.url(self.user, self.password, self.database)

    def start(self) -> None:
        self.server.init()
        with (self.server.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("fsync = off\n")  # throwaway data: writes as fast as the load test needs
        self.server.start()
        self.server.ensure_database(self.user, self.password, self.database)

    def stop(self) -> None:
        self.server.kill()  # a throwaway cluster: no clean shutdown needed


class S3(S3Server, Throwaway):
    """A real S3 server (versitygw) with its objects in a throwaway directory."""

    def __init__(self) -> None:
        self.dir = scratch_dir("s3")
        super().__init__(
            HOST, free_port(HOST), self.dir / "data", "chirp-test-access", "chirp-test-secret-" + secrets.token_hex(8)
        )


class Redis(RedisServer, Throwaway):
    def __init__(self) -> None:
        self.dir = scratch_dir("redis")
        super().__init__(HOST, free_port(HOST), self.dir / "data", secrets.token_urlsafe(16))


class Process:
    """A child process with its output in a log file; stopped by SIGTERM, then SIGKILL."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self.name, self.cmd = name, cmd
        self.env = {**os.environ, **(env or {})}
        self.dir = Path(tempfile.mkdtemp(prefix=f"chirp-{name}-", dir="/tmp"))
        self.log = self.dir / "out.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_fh: IO[bytes] | None = None

    def start(self) -> None:
        self._log_fh = self.log.open("wb")
        self.proc = subprocess.Popen(
            self.cmd, env=self.env, stdout=self._log_fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, timeout: float = 10) -> int | None:
        code = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            code = self.proc.returncode
        if self._log_fh is not None:
            self._log_fh.close()
        return code

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.cleanup()


def chirp_env(
    database_url: str, s3: S3Server, redis_url: str | None = None, bucket: str = "chirp-media"
) -> dict[str, str]:
    """Exactly the environment a deployer gives chirp."""
    env = {
        "PYTHONPATH": str(CHIRP_ROOT),
        "DATABASE_URL": database_url,
        "S3_ENDPOINT": s3.endpoint,
        "S3_REGION": "us-east-1",
        "S3_BUCKET": bucket,
        "S3_ACCESS_KEY": s3.access_key,
        "S3_SECRET_KEY": s3.secret_key,
        "CHIRP_SESSION_KEY": "chirp-session-" + secrets.token_hex(8),
        "CHIRP_LOG_LEVEL": "info",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


class ChirpWeb(Process):
    """``python -m chirp.web`` for real, ready once /healthz answers 200."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        super().__init__(
            "web",
            [sys.executable, "-m", "chirp.web", "--host", "127.0.0.1", "--port", str(self.port), "--wait", "5"],
            env,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ChirpWeb:
        self.start()
        try:
            wait_until(
                lambda: httpx.get(self.url + "/healthz", timeout=2).status_code == 200,
                30,
                "chirp web",
                self.proc,
                self.log,
            )
        except BaseException:
            self.cleanup()
            raise
        return self


class ChirpWorker(Process):
    def __init__(self, env: dict[str, str], poll: float = 0.1) -> None:
        super().__init__("worker", [sys.executable, "-m", "chirp.worker", "--poll", str(poll)], env)

    def __enter__(self) -> ChirpWorker:
        self.start()
        return self
