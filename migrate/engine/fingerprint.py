"""A stack's fingerprint: cheap proof that a deployed target is what ``up`` would make of it now.

A failover onto a warm standby must not wait for a full Pulumi converge (tens of seconds) when
the standby already runs exactly what the spec asks for. What decides a stack's resources is
the spec (this target's settings, not the other targets'), the secrets' values, the adapter's
program (its package and the ``stacks`` programs), where the app's code is, the state backend
and the engine's version. ``up`` records a keyed hash of all of that after a successful update
and forgets it before starting one (an interrupted or failed update leaves no record) and on
``destroy``; ``current`` compares the record with the hash computed now. Equal means "the
engine would find nothing to change" unless something outside the spec moved (a process died:
the health check, done beside this, catches that; the converge after the failover fixes it).

The hash is an HMAC under a random key in ``$MIGRATE_HOME`` (0600), so the record, which sits
beside the state, reveals nothing about the secrets that went into it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrate.engine.workspace import REPO_ROOT, EngineOptions, backend_url
from migrate.home import migrate_home

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec

PROGRAM_ROOTS = ("stacks",)  # every Pulumi program, plus the adapter's own package (below)


def _key() -> bytes:
    path = migrate_home() / "fingerprint.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(32))
    return path.read_bytes()


def _record_path(spec: ServiceSpec, target: str) -> Path:
    return migrate_home() / "fingerprints" / f"{spec.service.name}-{target}.json"


def _tree_digest(roots: list[Path]) -> str:
    """Every Python file under ``roots``, by relative path and content."""
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            if "__pycache__" in path.parts:
                continue
            digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _program_roots(provider: str) -> list[Path]:
    import inspect

    from providers.registry import hosting_adapter

    adapter_file = Path(inspect.getfile(type(hosting_adapter(provider)))).resolve()
    return [*(REPO_ROOT / name for name in PROGRAM_ROOTS), adapter_file.parent]


def _cli_path() -> Path:
    """The Pulumi CLI ``pulumi_command`` would run, found without running it (that takes seconds)."""
    import shutil

    from migrate.engine.workspace import TOOLS_ROOT

    root = os.environ.get("MIGRATE_PULUMI_ROOT")
    if root:
        return Path(root) / "bin" / "pulumi"
    if (TOOLS_ROOT / "bin" / "pulumi").exists():
        return TOOLS_ROOT / "bin" / "pulumi"
    return Path(shutil.which("pulumi") or "pulumi")


def _engine_version() -> dict[str, Any]:
    """The SDK's version and the CLI binary itself (its resolved path, size and mtime)."""
    from importlib.metadata import version

    command = _cli_path().resolve()
    try:
        stat = command.stat()
        cli = f"{command}:{stat.st_size}:{int(stat.st_mtime)}"
    except OSError:
        cli = str(command)
    return {"sdk": version("pulumi"), "cli": cli}


def document(spec: ServiceSpec, target: str, options: EngineOptions | None = None) -> dict[str, Any]:
    """What goes into the fingerprint (secret values included: only their keyed hash is kept)."""
    options = options or EngineOptions()
    settings = spec.target(target)
    described = spec.model_dump(mode="json")
    described["targets"] = {target: described["targets"][target]}
    source = spec.source_path
    app_dir = (options.app_dir or (source.parent if source else None) or Path.cwd()).resolve()
    return {
        "spec": described,
        "secrets": {key: ref.resolve(f"secrets.{key}") for key, ref in sorted(spec.secrets.items())},
        "program": _tree_digest(_program_roots(settings.provider)),
        "app_dir": str(app_dir),
        "backend": backend_url(options.backend),
        "engine": _engine_version(),
    }


def compute(spec: ServiceSpec, target: str, options: EngineOptions | None = None) -> str:
    text = json.dumps(document(spec, target, options), sort_keys=True, default=str)
    return hmac.new(_key(), text.encode(), hashlib.sha256).hexdigest()


def record(spec: ServiceSpec, target: str, options: EngineOptions | None = None) -> str:
    """After a successful ``up``: what the stack was made from."""
    value = compute(spec, target, options)
    path = _record_path(spec, target)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"fingerprint": value, "recorded_at": time.time()}))
    temporary.chmod(0o600)
    os.replace(temporary, path)
    return value


def forget(spec: ServiceSpec, target: str) -> None:
    """Before an update starts (it may not finish) and after a destroy."""
    _record_path(spec, target).unlink(missing_ok=True)


def recorded(spec: ServiceSpec, target: str) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(_record_path(spec, target).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data.get("fingerprint"), str) else None


def current(spec: ServiceSpec, target: str, options: EngineOptions | None = None) -> tuple[bool, str]:
    """Is the deployed stack what ``up`` would make of the spec now? (why not, if not)."""
    found = recorded(spec, target)
    if found is None:
        return False, f"{target} has no record of a finished update (never deployed, or its last update did not end)"
    if not hmac.compare_digest(found["fingerprint"], compute(spec, target, options)):
        return False, f"{target} was deployed from another spec, program, backend or engine version"
    age = time.time() - float(found.get("recorded_at", 0))
    return True, f"{target} was deployed from this spec, program and engine {age:.0f}s ago"
