"""Real servers for chirp's tests, on loopback: Postgres 15, moto's S3 server, Redis, and
chirp's own processes. Each is a context manager that cleans up after itself.

Kept small and local on purpose; the project may swap these for shared launchers.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import httpx

PG_BIN = Path("/usr/lib/postgresql/15/bin")
CHIRP_ROOT = Path(__file__).resolve().parents[1]  # examples/chirp
PG_USER = "postgres"  # Postgres refuses to run as root


def free_port() -> int:
    """A free TCP port on 127.0.0.1 below Linux's ephemeral range (32768+)."""
    for _ in range(200):
        port = random.randint(10_000, 32_000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below 32768")


def wait_until(check: Any, timeout: float, what: str, proc: subprocess.Popen[Any] | None = None,
               log: Path | None = None) -> None:
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


def _as_postgres() -> dict[str, Any]:
    if os.geteuid() == 0:
        return {"user": PG_USER, "group": PG_USER, "extra_groups": []}
    return {}


class Postgres:
    """A throwaway Postgres 15 cluster with password auth over TCP on 127.0.0.1."""

    def __init__(self, user: str = "chirp", database: str = "chirp") -> None:
        self.user, self.database = user, database
        self.password = secrets.token_urlsafe(16)
        self.dir = Path(tempfile.mkdtemp(prefix="chirp-pg-", dir="/tmp"))
        self.dir.chmod(0o755)
        self.data = self.dir / "data"
        self.port = 0

    @property
    def url(self) -> str:
        return (f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}"
                f"/{self.database}")

    def _run(self, *cmd: str | Path) -> None:
        subprocess.run([str(c) for c in cmd], check=True, cwd=self.dir, capture_output=True,
                       timeout=60, **_as_postgres())

    def __enter__(self) -> Postgres:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def start(self) -> None:
        import psycopg

        pwfile = self.dir / "pw"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if os.geteuid() == 0:
            shutil.chown(self.dir, PG_USER, PG_USER)
            shutil.chown(pwfile, PG_USER, PG_USER)
        self._run(PG_BIN / "initdb", "-D", self.data, "-U", self.user, "--pwfile", pwfile,
                  "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")
        pwfile.unlink()
        for _attempt in range(3):  # a port can be taken between picking and binding
            self.port = free_port()
            opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                    f"-c unix_socket_directories={self.dir} -c fsync=off")
            try:
                self._run(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.dir / "log", "-w",
                          "-t", "30", "-o", opts, "start")
                break
            except subprocess.CalledProcessError:
                continue
        else:
            raise RuntimeError("postgres would not start:\n" + self.log_tail())
        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{self.database}"')

    def log_tail(self) -> str:
        log = self.dir / "log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                            "-w", "stop"], cwd=self.dir, capture_output=True, timeout=30,
                           **_as_postgres())
        shutil.rmtree(self.dir, ignore_errors=True)

    def __exit__(self, *_exc: object) -> None:
        self.stop()


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
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=self._log_fh,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

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


class MotoS3(Process):
    """moto's S3-compatible server (in-memory)."""

    def __init__(self) -> None:
        self.port = free_port()
        super().__init__("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                  "-p", str(self.port)])

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        wait_until(lambda: httpx.get(self.endpoint + "/moto-api/", timeout=1).is_success,
                   30, "moto server", self.proc, self.log)

    def __enter__(self) -> MotoS3:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.cleanup()
            raise
        return self


class Redis(Process):
    def __init__(self) -> None:
        self.port = free_port()
        super().__init__("redis", ["redis-server", "--bind", "127.0.0.1", "--port",
                                   str(self.port), "--save", "", "--appendonly", "no"])

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> Redis:
        import redis

        self.start()
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            wait_until(client.ping, 10, "redis", self.proc, self.log)
        except BaseException:
            self.cleanup()
            raise
        finally:
            client.close()
        return self


def chirp_env(database_url: str, s3_endpoint: str, redis_url: str | None = None,
              bucket: str = "chirp-media") -> dict[str, str]:
    """Exactly the environment a deployer gives chirp."""
    env = {
        "PYTHONPATH": str(CHIRP_ROOT),
        "DATABASE_URL": database_url,
        "S3_ENDPOINT": s3_endpoint,
        "S3_REGION": "us-east-1",
        "S3_BUCKET": bucket,
        "S3_ACCESS_KEY": "chirp-test-access",
        "S3_SECRET_KEY": "chirp-test-secret-" + secrets.token_hex(8),
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
        super().__init__("web", [sys.executable, "-m", "chirp.web", "--host", "127.0.0.1",
                                 "--port", str(self.port), "--wait", "5"], env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ChirpWeb:
        self.start()
        try:
            wait_until(lambda: httpx.get(self.url + "/healthz", timeout=2).status_code == 200,
                       30, "chirp web", self.proc, self.log)
        except BaseException:
            self.cleanup()
            raise
        return self


class ChirpWorker(Process):
    def __init__(self, env: dict[str, str], poll: float = 0.1) -> None:
        super().__init__("worker", [sys.executable, "-m", "chirp.worker", "--poll", str(poll)],
                         env)

    def __enter__(self) -> ChirpWorker:
        self.start()
        return self
