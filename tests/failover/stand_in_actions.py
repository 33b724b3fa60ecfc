"""Stand-in actions for engine tests: real file work in a directory named by the run's params.

Each action appends its name to ``calls.log`` so tests can prove finished work is not redone;
"data" is a real file copied and verified by SHA-256. Not product code: runbooks under
tests/failover/runbooks import this module.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

from migrate.errors import MigrateError
from migrate.runbook.registry import action


def _dir(ctx: Any) -> Path:
    return Path(ctx.params["workdir"])


def _called(ctx: Any, name: str) -> None:
    with open(_dir(ctx) / "calls.log", "a") as log:
        log.write(f"{name}\n")
        log.flush()
        os.fsync(log.fileno())


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@action("test.provision")
def provision(ctx: Any, name: str) -> dict[str, Any]:
    _called(ctx, f"provision:{name}")
    (_dir(ctx) / name).mkdir(exist_ok=True)
    return {"host": name, "password": ctx.params.get("password", "")}


@action("test.destroy")
def destroy(ctx: Any, name: str) -> None:
    _called(ctx, f"destroy:{name}")
    shutil.rmtree(_dir(ctx) / name, ignore_errors=True)


def describe_copy(ctx: Any, source: str, dest: str) -> dict[str, Any]:
    """Read-only: what would be copied (a dry run's plan)."""
    src = _dir(ctx) / source / "data.bin"
    return {"copies": f"{src.stat().st_size} bytes", "to": str(_dir(ctx) / dest)}


@action("test.copy", describe=describe_copy)
def copy(ctx: Any, source: str, dest: str) -> dict[str, Any]:
    _called(ctx, "copy")
    if (_dir(ctx) / "fail-copy").exists():
        raise MigrateError(f"target {dest} vanished while data was restoring")
    src, dst = _dir(ctx) / source / "data.bin", _dir(ctx) / dest / "data.bin"
    shutil.copyfile(src, dst)
    ctx.log(f"copied {src.stat().st_size} bytes")
    return {"sha256": _sha(dst)}


@action("test.same")
def same(ctx: Any, source: str, dest: str) -> tuple[bool, str]:
    a, b = _dir(ctx) / source / "data.bin", _dir(ctx) / dest / "data.bin"
    ok = b.exists() and _sha(a) == _sha(b)
    return ok, "checksums equal" if ok else "checksums differ"


@action("test.exists")
def exists(ctx: Any, name: str) -> tuple[bool, str]:
    path = _dir(ctx) / name
    return path.exists(), f"{path} {'exists' if path.exists() else 'missing'}"


@action("test.point")
def point(ctx: Any, at: str) -> dict[str, Any]:
    _called(ctx, f"point:{at}")
    (_dir(ctx) / "pointer").write_text(at)
    return {"pointer": at}


@action("test.unpoint")
def unpoint(ctx: Any, at: str) -> None:
    _called(ctx, f"unpoint:{at}")
    (_dir(ctx) / "pointer").write_text("old")


@action("test.leak")
def leak(ctx: Any, env: str) -> dict[str, Any]:
    """Reads a secret the way product code does (a SecretRef), then tries to leak it everywhere."""
    from migrate.spec.secrets import SecretRef

    value = SecretRef(env=env).resolve("test secret")
    ctx.log(f"connecting with postgresql://chirp:{value}@127.0.0.1/chirp and key {value}")
    print(f"stdout {value}")
    return {"database_url": f"postgresql://chirp:{value}@127.0.0.1/chirp", "key": value}


@action("test.rendezvous")
def rendezvous(ctx: Any, mine: str, other: str, timeout: float = 30.0) -> dict[str, Any]:
    """Leave a mark, then wait for the other step's: passes only if both steps run at once."""
    import time

    _called(ctx, f"rendezvous:{mine}")
    (_dir(ctx) / f"{mine}.here").touch()
    deadline = time.monotonic() + timeout
    while not (_dir(ctx) / f"{other}.here").exists():
        if time.monotonic() > deadline:
            raise MigrateError(f"{mine}: {other} never ran at the same time")
        time.sleep(0.05)
    return {"met": other}


@action("test.fail")
def fail(ctx: Any, message: str) -> None:
    _called(ctx, "fail")
    raise MigrateError(message)
