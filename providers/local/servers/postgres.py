"""A real PostgreSQL 15 cluster on one address and port (Debian's postgresql-15)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from migrate.childenv import child_env
from migrate.errors import MigrateError
from migrate.private_files import write_private_file
from providers.local.servers import process

PG_BIN = Path(os.environ.get("MIGRATE_PG_BIN", "/usr/lib/postgresql/15/bin"))
RUN_AS = "postgres"  # Postgres refuses to run as root.

SETTINGS = {
    "wal_level": "logical",
    "max_wal_senders": "10",
    "max_replication_slots": "10",
    "max_connections": "100",
    "shared_buffers": "128MB",
    "log_min_messages": "warning",
}


def pg_tool(name: str) -> str:
    path = PG_BIN / name
    if not path.exists():
        found = shutil.which(name)
        if found:
            return found
        raise MigrateError(f"{name} not found in {PG_BIN}: install postgresql-15 (scripts/bootstrap)")
    return str(path)


@dataclass
class PostgresServer:
    """One cluster. ``superuser_password`` protects TCP logins; the socket stays in data_dir."""

    data_dir: Path
    host: str
    port: int
    superuser_password: str

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    @property
    def socket_dir(self) -> Path:
        return self.data_dir

    def url(self, user: str = "postgres", password: str | None = None, database: str = "postgres") -> str:
        secret = self.superuser_password if password is None else password
        return f"postgresql://{quote(user)}:{quote(secret, safe='')}@{self.host}:{self.port}/{database}"

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        """initdb with password logins over TCP; idempotent."""
        if self.initialized:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        _own(self.data_dir)
        pwfile = self.data_dir.parent / f".{self.data_dir.name}.pw"
        write_private_file(pwfile, self.superuser_password + "\n")
        _own(pwfile)
        try:
            _run_as_postgres(
                [
                    pg_tool("initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    # A new cluster holds nothing worth an fsync yet: saves seconds per cluster.
                    "--no-sync",
                    "--no-instructions",
                ],
                what=f"initdb {self.data_dir}",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        conf = self.data_dir / "postgresql.conf"
        extra = {
            **SETTINGS,
            "listen_addresses": f"'{self.host}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
        }
        with conf.open("a") as handle:
            handle.write("\n# migrate local sandbox\n")
            for key, value in extra.items():
                handle.write(f"{key} = {value}\n")
        with (self.data_dir / "pg_hba.conf").open("a") as handle:
            handle.write("host replication all 127.0.0.0/8 scram-sha-256\n")

    def start(self, timeout: float = 30.0) -> int:
        """Start the postmaster detached; return its pid once it accepts connections."""
        pid = self.pid()
        if pid and process.alive(pid) and self.ready():
            return pid
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        self._clear_stale_socket_locks()
        return process.start_server(
            [pg_tool("postgres"), "-D", str(self.data_dir)],
            self.log_path,
            ready=self.ready,
            what=f"Postgres on {self.host}:{self.port}",
            timeout=timeout,
            user=RUN_AS,
        )

    def _clear_stale_socket_locks(self) -> None:
        """A postmaster killed with SIGKILL leaves its socket's lock file naming its pid. Postgres
        takes that pid for a live postmaster while it is a zombie not yet reaped (this machine's
        PID 1 may reap late), and refuses to start. A lock whose pid is gone or a zombie is
        cleared; one naming a live process is left, and Postgres says which."""
        for lock in self.socket_dir.glob(".s.PGSQL.*.lock"):
            if not process.alive(process.read_pid(lock)):
                lock.unlink(missing_ok=True)

    def ready(self) -> bool:
        result = subprocess.run(
            [pg_tool("pg_isready"), "-q", "-h", self.host, "-p", str(self.port)],
            capture_output=True,
            env=child_env(),
        )
        return result.returncode == 0

    def pid(self) -> int | None:
        return process.read_pid(self.data_dir / "postmaster.pid")

    def stop(self) -> None:
        """Fast shutdown (SIGINT): roll back open transactions, checkpoint, exit."""
        pid = self.pid()
        if pid and process.alive(pid):
            os.kill(pid, signal.SIGINT)
            process.stop(pid, timeout=30)

    def kill(self) -> None:
        """What a terminated host leaves: no shutdown at all."""
        pid = self.pid()
        if pid:
            # Backends share the postmaster's process group (its own session): killing the
            # group kills them all, and nothing of another cluster on the same port number.
            process.kill(pid)

    def ensure_database(self, user: str, password: str, database: str, locale: str | None = None) -> None:
        """Create the app's role and database if absent (idempotent); ``locale``: its collation
        and ctype (the cluster's when None). An existing database of another locale is an error."""
        import psycopg
        from psycopg import sql

        from migrate.syncrep import ensure_not_waiting

        with psycopg.connect(self.url(), autocommit=True) as conn:
            ensure_not_waiting(conn, f"{self.host}:{self.port}", superuser=True)  # never hang on SyncRep
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                sql.SQL(verb + " ROLE {} LOGIN REPLICATION PASSWORD {}").format(
                    sql.Identifier(user), sql.Literal(password)
                )
            )
            found = conn.execute("SELECT datcollate FROM pg_database WHERE datname = %s", (database,)).fetchone()
            if found is None:
                create = sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(user))
                if locale:
                    create += sql.SQL(" TEMPLATE template0 LOCALE {}").format(sql.Literal(locale))
                conn.execute(create)
            elif locale and found[0] != locale:
                raise MigrateError(
                    f"database {database!r} on {self.host}:{self.port} has locale {found[0]!r}, the spec asks "
                    f"for {locale!r}: a database's collation cannot change; dump, drop and restore it"
                )


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        account = pwd.getpwnam(RUN_AS)
        os.chown(path, account.pw_uid, account.pw_gid)


def _run_as_postgres(argv: list[str], what: str) -> None:
    command = argv
    if os.geteuid() == 0:
        command = ["runuser", "-u", RUN_AS, "--", *argv]
    result = subprocess.run(command, capture_output=True, text=True, env=child_env())
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["failed"]
        raise MigrateError(f"{what}: {detail[0]}")


def traversable_dir(base: Path) -> Path:
    """``base`` made reachable by the postgres user (every ancestor o+x), or an error."""
    base.mkdir(parents=True, exist_ok=True)
    for ancestor in [base, *base.parents]:
        if os.geteuid() == 0 and not os.stat(ancestor).st_mode & 0o001:
            raise MigrateError(
                f"{ancestor} is not searchable by the postgres user (mode "
                f"{oct(os.stat(ancestor).st_mode & 0o777)}): keep sandbox data elsewhere "
                f"(MIGRATE_HOME) or chmod o+x it"
            )
    return base
