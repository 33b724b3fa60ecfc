"""Where the engine runs: the Pulumi CLI, the state backend, the passphrase, the stack.

One Pulumi project per service, one stack per target (``organization/<service>/<target>``).
State goes to a local ``file://`` backend under ``$MIGRATE_HOME/state`` unless
``--backend URL`` / ``PULUMI_BACKEND_URL`` names another (an ``s3://`` bucket a team
shares). Secrets in state are encrypted with a passphrase: ``PULUMI_CONFIG_PASSPHRASE``,
``PULUMI_CONFIG_PASSPHRASE_FILE``, or else ``$MIGRATE_HOME/passphrase`` (created once,
0600). Nothing phones home: no update check, no plugin download. Read-only commands run the
engine under ``read_only_engine`` (a scratch Pulumi home and work directory), and preview a
target that has no stack in ``scratch_engine``: they create nothing.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import logging
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from migrate.errors import InputError, MigrateError, NotDeployedError
from migrate.home import migrate_home
from migrate.private_files import make_private_dir

if TYPE_CHECKING:
    from pulumi import automation as auto

    from migrate.spec.model import ServiceSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_ROOT = REPO_ROOT / ".tools"


def home_mode() -> int:
    """MIGRATE_HOME's mode: 0700; as root 0711, since the sandbox's Postgres then runs as the
    postgres user, who must pass through to its data directory (not list it)."""
    return 0o711 if os.geteuid() == 0 else 0o700


ORGANIZATION = "organization"  # the file backend's fixed organization name


@dataclass(frozen=True)
class EngineOptions:
    """What a command may override: the backend URL and the app's directory."""

    backend: str | None = None
    app_dir: Path | None = None


def backend_url(override: str | None = None) -> str:
    """``--backend``, else ``PULUMI_BACKEND_URL``, else ``file://$MIGRATE_HOME/state``."""
    url = override or os.environ.get("PULUMI_BACKEND_URL")
    read_only = _READ_ONLY.get() is not None
    if url:
        if url.startswith("file://"):
            path = Path(url.removeprefix("file://")).expanduser().resolve()
            if not read_only:
                path.mkdir(parents=True, exist_ok=True)
            return f"file://{path}"
        return url
    if read_only:
        return f"file://{migrate_home() / 'state'}"
    make_private_dir(migrate_home(), home_mode())
    state = make_private_dir(migrate_home() / "state")
    return f"file://{state}"


def local_state_missing(override: str | None = None) -> bool:
    """No ``file://`` state exists yet: nothing is deployed, and a read-only command that
    found this must not create it (nor the passphrase) just to say so."""
    url = override or os.environ.get("PULUMI_BACKEND_URL")
    if url and not url.startswith("file://"):
        return False
    path = Path(url.removeprefix("file://")).expanduser() if url else migrate_home() / "state"
    return not path.is_dir()


# Set while a read-only command uses the engine: the scratch directory its Pulumi home and
# work directory copies live in (see read_only_engine).
_READ_ONLY: ContextVar[Path | None] = ContextVar("migrate_read_only_engine", default=None)


@contextlib.contextmanager
def read_only_engine() -> Iterator[None]:
    """For the engine runs of a read-only command (plan, status, reading outputs): nothing of
    the operator's is created or rewritten. The Pulumi CLI writes on every run — a workspace
    file and an automatic log in its home, ``Pulumi.yaml`` in the work directory — so it gets
    a scratch ``PULUMI_HOME`` (whose plugins are links to the real ones) and a copy of the work
    directory, both removed afterwards; no passphrase, state directory or plugin is created."""
    if _READ_ONLY.get() is not None:
        yield
        return
    scratch = Path(tempfile.mkdtemp(prefix="migrate-read-"))  # 0700
    token = _READ_ONLY.set(scratch)
    try:
        yield
    finally:
        _READ_ONLY.reset(token)
        shutil.rmtree(scratch, ignore_errors=True)


def read_only() -> bool:
    return _READ_ONLY.get() is not None


def _scratch_pulumi_home(scratch: Path) -> Path:
    """A Pulumi home for one read-only command: the operator's plugins (and login) linked in,
    so the CLI finds them, while what it writes (logs, workspace files) stays in ``scratch``."""
    home = scratch / "pulumi-home"
    if home.is_dir():
        return home
    real = Path(os.environ.get("PULUMI_HOME") or Path.home() / ".pulumi")
    (home / "plugins").mkdir(parents=True, mode=0o700)
    if (real / "plugins").is_dir():
        # The CLI lists only real directories (a linked one is skipped): each plugin gets one,
        # holding links to the plugin's files.
        for plugin in (real / "plugins").iterdir():
            if plugin.is_symlink() or not plugin.is_dir() or Path(f"{plugin}.partial").exists():
                continue
            (home / "plugins" / plugin.name).mkdir(mode=0o700)
            for item in plugin.iterdir():
                (home / "plugins" / plugin.name / item.name).symlink_to(item)
    if (real / "credentials.json").is_file():
        (home / "credentials.json").symlink_to(real / "credentials.json")
    return home


ENGINE_VARIABLES = ("MIGRATE_HOME", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")


@contextlib.contextmanager
def scratch_engine() -> Iterator[None]:
    """For a preview of a target that was never deployed (no local state yet): the engine's
    state, work directory and passphrase live in a temporary home removed afterwards, so a
    read-only ``plan`` creates nothing of the operator's (no MIGRATE_HOME, stack, passphrase)."""
    saved = {name: os.environ.get(name) for name in ENGINE_VARIABLES}
    scratch = Path(tempfile.mkdtemp(prefix="migrate-plan-"))  # 0700
    (scratch / "state").mkdir(mode=0o700)  # a read-only engine creates no state directory itself
    for name in ENGINE_VARIABLES:
        os.environ.pop(name, None)
    os.environ["MIGRATE_HOME"] = str(scratch)
    os.environ["PULUMI_CONFIG_PASSPHRASE"] = secrets.token_urlsafe(24)  # encrypts nothing that is kept
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(scratch, ignore_errors=True)


def passphrase_env(create: bool = True) -> dict[str, str]:
    """The passphrase the stack's secrets are encrypted with, as Pulumi's env variables.
    Without ``create`` (and under ``read_only_engine``) a missing passphrase file is not made."""
    create = create and not read_only()
    if os.environ.get("PULUMI_CONFIG_PASSPHRASE") is not None:
        return {"PULUMI_CONFIG_PASSPHRASE_FILE": str(_passphrase_file(os.environ["PULUMI_CONFIG_PASSPHRASE"]))}
    if os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        path = Path(os.environ["PULUMI_CONFIG_PASSPHRASE_FILE"]).expanduser()
        if not path.is_file():
            raise InputError(f"PULUMI_CONFIG_PASSPHRASE_FILE: no such file {path}")
        return {"PULUMI_CONFIG_PASSPHRASE_FILE": str(path.resolve())}
    path = migrate_home() / "passphrase"
    if not path.exists() and not create:
        return {}
    if not path.exists():
        make_private_dir(path.parent)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
        sys.stderr.write(
            f"migrate: created {path} (0600): the passphrase that encrypts secrets in the stack state. "
            "Keep it (or set PULUMI_CONFIG_PASSPHRASE / PULUMI_CONFIG_PASSPHRASE_FILE) to read them again.\n"
        )
    return {"PULUMI_CONFIG_PASSPHRASE_FILE": str(path)}


@functools.cache
def _passphrase_file(value: str) -> Path:
    """The operator's ``PULUMI_CONFIG_PASSPHRASE`` as a 0600 file in a private temporary
    directory, removed at exit: the CLI reads it from there, so no process migrate starts
    holds the value in its environment."""
    directory = Path(tempfile.mkdtemp(prefix="migrate-engine-"))  # 0700
    path = directory / "passphrase"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value)
    atexit.register(shutil.rmtree, directory, True)
    return path


def pulumi_command(declared: tuple[str, ...] = ()) -> auto.PulumiCommand:
    """The Pulumi CLI: ``$MIGRATE_PULUMI_ROOT/bin/pulumi``, the bootstrapped one, or ``pulumi`` on
    PATH, started with only the engine's variables and those ``declared`` (migrate/engine/pulumi_cli.py)."""
    root = os.environ.get("MIGRATE_PULUMI_ROOT")
    if root and not (Path(root) / "bin" / "pulumi").exists():
        raise InputError(f"MIGRATE_PULUMI_ROOT={root}: no bin/pulumi there")
    if not root and (TOOLS_ROOT / "bin" / "pulumi").exists():
        root = str(TOOLS_ROOT)
    command = str(Path(root) / "bin" / "pulumi") if root else (shutil.which("pulumi") or "pulumi")
    return _scoped_command(command, declared)


@functools.cache
def _scoped_command(command: str, declared: tuple[str, ...]) -> auto.PulumiCommand:
    """One per CLI and declared set: constructing it runs ``pulumi version``."""
    from migrate.engine.pulumi_cli import ScopedPulumiCommand

    try:
        return ScopedPulumiCommand(command, declared)
    except (OSError, Exception) as exc:
        raise MigrateError(
            f"the Pulumi CLI is not available ({exc}): run scripts/bootstrap, or point "
            "MIGRATE_PULUMI_ROOT at an installation (a directory with bin/pulumi)"
        ) from None


def engine_env(backend: str) -> dict[str, str]:
    """Environment of every Pulumi CLI run (and, through it, of the dynamic providers)."""
    path_parts = [str(TOOLS_ROOT / "bin")]
    if os.environ.get("MIGRATE_PULUMI_ROOT"):
        path_parts.insert(0, str(Path(os.environ["MIGRATE_PULUMI_ROOT"]) / "bin"))
    path_parts.append(os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"))
    pythonpath = [str(REPO_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(":"))]
    scratch = _READ_ONLY.get()
    return {
        **({"PULUMI_HOME": str(_scratch_pulumi_home(scratch))} if scratch is not None else {}),
        "PULUMI_BACKEND_URL": backend,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
        "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
        "PULUMI_SELF_MANAGED_STATE_NO_LEGACY_WARNING": "true",
        # Dynamic providers run in a Python the shim .tools/bin/pulumi-resource-pulumi-python starts:
        # this one, so they import this checkout's providers package.
        "PULUMI_PYTHON_CMD": sys.executable,
        "PYTHONPATH": ":".join(dict.fromkeys(pythonpath)),
        "PATH": ":".join(path_parts),
        "MIGRATE_HOME": str(migrate_home()),
        **passphrase_env(),
    }


def stack_name(spec: ServiceSpec, target: str) -> str:
    return f"{ORGANIZATION}/{spec.service.name}/{target}"


def _work_dir(spec: ServiceSpec, backend: str) -> Path:
    """Per service and backend: Pulumi.yaml and each stack's encryption salt live here."""
    digest = hashlib.sha256(backend.encode()).hexdigest()[:10]
    real = migrate_home() / "pulumi" / f"{spec.service.name}-{digest}"
    scratch = _READ_ONLY.get()
    if scratch is not None:  # a copy: the CLI rewrites Pulumi.yaml (and may add a salt) there
        copy = scratch / "work" / real.name
        if not copy.is_dir():
            if real.is_dir():
                shutil.copytree(real, copy, symlinks=True)
            else:
                copy.mkdir(parents=True, mode=0o700)
        return copy
    make_private_dir(migrate_home() / "pulumi")  # 0700: the stacks' salts and config
    return make_private_dir(real)


def workspace(
    spec: ServiceSpec, options: EngineOptions | None = None, target: str | None = None
) -> auto.LocalWorkspace:
    """The service's Pulumi workspace (no stack selected); with ``target``, its CLI sees only
    the operator's variables that target's adapter declares (not every target's)."""
    from pulumi import automation as auto

    options = options or EngineOptions()
    backend = backend_url(options.backend)
    if not os.environ.get("MIGRATE_VERBOSE"):
        # The inline program's gRPC server logs a traceback when the engine stops first
        # (after a failed resource): noise on top of the real error, which we report.
        logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    settings = auto.ProjectSettings(
        name=spec.service.name,
        runtime="python",
        description=f"migrate: the {spec.service.name} service, one stack per target",
    )
    return auto.LocalWorkspace(
        work_dir=str(_work_dir(spec, backend)),
        project_settings=settings,
        env_vars=engine_env(backend),
        secrets_provider="passphrase",
        pulumi_command=pulumi_command(engine_declared(spec, backend, target)),
    )


def engine_declared(spec: ServiceSpec, backend: str, target: str | None = None) -> tuple[str, ...]:
    """The operator's variables the engine may see: those the adapter of ``target`` (else of
    every target) declares (``engine_env``), and the AWS chain when the state lives in S3."""
    from providers.registry import hosting_adapter

    chosen = [spec.target(target)] if target is not None else list(spec.targets.values())
    names = {name for settings in chosen for name in hosting_adapter(settings.provider).engine_env}
    if backend.startswith("s3://"):
        names.add("AWS_")
    return tuple(sorted(names))


def open_stack(spec: ServiceSpec, target: str, options: EngineOptions | None = None, *, create: bool) -> auto.Stack:
    """Select (or, with ``create``, create) the target's stack with its inline program."""
    from pulumi import automation as auto

    from migrate.engine.errors import engine_error
    from providers.hosting import RunContext
    from stacks.program import make_program

    spec.target(target)  # an unknown target is bad input before anything runs
    options = options or EngineOptions()
    source = spec.source_path
    app_dir = (options.app_dir or (source.parent if source else None) or Path.cwd()).resolve()
    ws = workspace(spec, options, target)
    ws.program = make_program(spec, target, RunContext(app_dir=app_dir))
    name = stack_name(spec, target)
    try:
        if create:
            return auto.Stack.create_or_select(name, ws)
        return auto.Stack.select(name, ws)
    except auto.StackNotFoundError:
        raise not_deployed(spec, target, ws) from None
    except auto.CommandError as exc:
        raise engine_error(exc, spec, target) from None


def not_deployed(spec: ServiceSpec, target: str, ws: auto.LocalWorkspace | None = None) -> NotDeployedError:
    backend = (ws.env_vars or {}).get("PULUMI_BACKEND_URL", "the state backend") if ws else "the state backend"
    return NotDeployedError(
        f"target {target!r} is not deployed (no stack {stack_name(spec, target)} in {backend}): "
        f"run migrate up --to {target}"
    )
