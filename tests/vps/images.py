"""Container images for the test hosts, built here from Debian's packages (no registry is reachable).

One root filesystem made by ``mmdebstrap`` (bookworm, minbase) with PostgreSQL 15, Redis,
nginx, Python 3 and the example app's libraries, plus the versitygw binary that bootstrap
caches; cached as a tarball under ~/.cache/migrate/test-images. Each test host's dockerd
imports it once, and tiny Dockerfiles ``FROM`` it give each service the interface the
official images have (the stack only relies on that interface, and users set their own
image names in the target's settings): ``postgres`` (initdb from ``POSTGRES_*``), ``redis``,
``nginx`` (``/etc/nginx/conf.d``) and ``versitygw``. These are the test machine's images,
not migrate's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

CACHE = Path.home() / ".cache" / "migrate" / "test-images"
ROOTFS_VERSION = "2"
PACKAGES = [
    "redis-server",
    "nginx-light",
    "python3",
    "python3-flask",
    "python3-psycopg",
    "python3-psycopg-pool",
    "python3-boto3",
    "python3-redis",
    "curl",
    "ca-certificates",
]


def versitygw_binary() -> Path:
    found = sorted((Path.home() / ".cache" / "migrate").glob("versitygw-*/versitygw"))
    if not found:
        raise RuntimeError("versitygw is not cached: run scripts/bootstrap")
    return found[-1]


def machine_postgres_version() -> str:
    """The machine's own PostgreSQL 15 package version: the one the local sandbox runs.

    The hosts' image gets the same, so a move between the sandbox and a test host crosses no
    minor release: PostgreSQL 15.20 (bookworm-security) gives every new column a
    ``pg_attver`` option that 15.18 (bookworm) rejects at restore (``unrecognized parameter``).
    """
    found = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "postgresql-15"], capture_output=True, text=True)
    if found.returncode != 0 or not found.stdout.strip():
        raise RuntimeError("postgresql-15 is not installed: run scripts/bootstrap")
    return found.stdout.strip()


def debian_rootfs(cache: Path = CACHE) -> Path:
    """The cached root filesystem tarball; built once with mmdebstrap (a few minutes cold)."""
    postgres = machine_postgres_version()
    tarball = cache / f"debian-services-{ROOTFS_VERSION}-pg{postgres}.tar"
    if tarball.exists():
        return tarball
    cache.mkdir(parents=True, exist_ok=True)
    partial = tarball.with_suffix(".partial.tar")
    hook = f'cp {versitygw_binary()} "$1/usr/local/bin/versitygw"'
    started = time.monotonic()
    subprocess.run(
        [
            "mmdebstrap",
            "--quiet",
            "--variant=minbase",
            "--include=" + ",".join([f"postgresql-15={postgres}", f"postgresql-client-15={postgres}", *PACKAGES]),
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            f"--customize-hook={hook}",
            "bookworm",
            str(partial),
        ],
        check=True,
        capture_output=True,
    )
    partial.rename(tarball)
    tarball.with_suffix(".seconds").write_text(f"{time.monotonic() - started:.0f}\n")
    return tarball


POSTGRES_ENTRYPOINT = """#!/bin/sh
# The official image's interface: POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB / PGDATA.
set -e
: "${PGDATA:=/var/lib/postgresql/data}"
BIN=/usr/lib/postgresql/15/bin
AS="setpriv --reuid=postgres --regid=postgres --init-groups"
mkdir -p "$PGDATA" /run/postgresql
chown -R postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  umask 077
  printf '%s\\n' "$POSTGRES_PASSWORD" > /tmp/pwfile
  chown postgres /tmp/pwfile
  $AS "$BIN/initdb" -D "$PGDATA" \\
    -U "$POSTGRES_USER" --pwfile=/tmp/pwfile --encoding=UTF8 --locale=C.UTF-8 \\
    --auth-host=scram-sha-256 --auth-local=trust >/dev/null
  rm -f /tmp/pwfile
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  $AS "$BIN/pg_ctl" -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
  if [ "$POSTGRES_DB" != "postgres" ]; then
    $AS "$BIN/createdb" -U "$POSTGRES_USER" -O "$POSTGRES_USER" "$POSTGRES_DB"
  fi
  $AS "$BIN/pg_ctl" -D "$PGDATA" -w stop >/dev/null
fi
unset POSTGRES_PASSWORD
exec $AS "$BIN/postgres" -D "$PGDATA" \\
  -c listen_addresses='*' -c wal_level=logical "$@"
"""

DOCKERFILES = {
    # PGPORT: psql in the container reaches the server on 5432, as in the official image. Debian's
    # psql wrapper would take the port of the cluster the package made when the rootfs was built:
    # 5433 if the building machine had 5432 taken (a sandbox running), and the rootfs is cached.
    "postgres": (
        "ENV PGPORT=5432\n"
        'COPY entrypoint /usr/local/bin/postgres-entrypoint\nENTRYPOINT ["/usr/local/bin/postgres-entrypoint"]\n'
    ),
    "redis": 'CMD ["redis-server"]\n',
    "nginx": (
        "RUN rm -f /etc/nginx/sites-enabled/default && ln -sf /dev/stderr /var/log/nginx/error.log\n"
        'CMD ["nginx", "-g", "daemon off;"]\n'
    ),
    "versitygw": 'ENTRYPOINT ["/usr/local/bin/versitygw"]\n',
}


# Pure-Python libraries the example app needs newer than bookworm has (psycopg-pool >= 3.2).
WHEELS = ["psycopg-pool==3.2.6"]


def pure_wheels(cache: Path = CACHE) -> list[Path]:
    """The wheels of ``WHEELS``, fetched once from PyPI by pip and cached."""
    directory = cache / "wheels"
    found = sorted(directory.glob("*.whl"))
    if len(found) >= len(WHEELS):
        return found
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(directory), *WHEELS],
        check=True,
        capture_output=True,
    )
    return sorted(directory.glob("*.whl"))


def load_images(docker: list[str], workdir: Path, app_dir: Path | None = None) -> dict[str, str]:
    """Import the rootfs into one dockerd and build the service images; ``{name: tag}``.

    ``docker`` is the CLI argv prefix (``["docker", "-H", "unix://..."]``). With ``app_dir``
    an app image is built too (its code copied to /app, the working directory).
    """
    tarball = debian_rootfs()
    base = "migrate-test/debian-services:" + ROOTFS_VERSION
    subprocess.run([*docker, "import", str(tarball), base], check=True, capture_output=True)
    tags: dict[str, str] = {}
    items = dict(DOCKERFILES)
    if app_dir is not None:
        items["app"] = (
            "COPY app /app\nWORKDIR /app\nRUN ln -sf /usr/bin/python3 /usr/local/bin/python\nENV PYTHONUNBUFFERED=1\n"
        )
    for name, body in items.items():
        context = workdir / f"image-{name}"
        context.mkdir(parents=True, exist_ok=True)
        if name == "postgres":
            (context / "entrypoint").write_text(POSTGRES_ENTRYPOINT)
            os.chmod(context / "entrypoint", 0o755)
        if name == "app" and app_dir is not None:
            shutil.copytree(app_dir, context / "app", ignore=shutil.ignore_patterns("__pycache__", ".migrate", "tests"))
            for wheel in pure_wheels():  # newer than Debian's, pure Python: unpacked beside the app
                with zipfile.ZipFile(wheel) as archive:
                    archive.extractall(context / "app")
        (context / "Dockerfile").write_text(f"FROM {base}\n{body}")
        tag = f"migrate-test/{name}:1"
        subprocess.run(
            [*docker, "build", "-q", "-t", tag, str(context)],
            check=True,
            capture_output=True,
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
        )
        tags[name] = tag
    return tags


if __name__ == "__main__":
    print(debian_rootfs())
