"""The small base every hosting adapter implements: what it provides, and what it can do.

Two vocabularies. ``Capability`` says how the adapter covers each part of a service (native,
self-run, none), for people choosing a provider. ``Supports`` says what the *core* may ask of
the adapter during a failover or drill; the core acts on these flags (the pre-flight refuses
what a target cannot do, before step 1) and never on a provider's name.
"""

from __future__ import annotations

import time
from abc import ABC
from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from migrate.errors import InputError

if TYPE_CHECKING:
    from contextlib import ExitStack

    from migrate.outputs import TargetOutputs
    from migrate.spec.model import ServiceSpec


class Capability(StrEnum):
    PROCESSES = "processes"
    POSTGRES = "postgres"
    REDIS = "redis"
    OBJECT_STORAGE = "object_storage"
    LOAD_BALANCER = "load_balancer"
    TLS = "tls"
    DNS = "dns"


class ChangeFeed(StrEnum):
    """What the provider's object store can tell a follower about changes (``data follow --events``)."""

    NONE = "none"  # nothing: the follower lists the source pass after pass
    SQS = "sqs"  # S3 event notifications into an SQS queue at the same endpoint (AWS)
    WEBHOOK = "webhook"  # a server-wide event feed read over HTTP at outputs.s3_events_url


# The stack config key migrate bumps after a promotion; a stack that declares
# ``Supports.restart_processes`` restarts the processes marked restart_after_promotion on a new value.
RESTART_GENERATION_KEY = "migrate:restart-generation"


@dataclass(frozen=True)
class Supports:
    """What the core may ask of an adapter. Each flag has a ``FEATURES`` entry: what it
    means and the way out when a target lacks it (the pre-flight prints both)."""

    terminate: bool = False
    holding_page: bool = False
    superuser_url: bool = False
    bucket_events: bool = False
    disposable: bool = False
    config_files: bool = False
    database_locale: bool = False
    restart_processes: bool = False

    def as_dict(self) -> dict[str, bool]:
        return {f.name: bool(getattr(self, f.name)) for f in fields(self)}

    def missing(self, *wanted: str) -> list[str]:
        return [name for name in wanted if not getattr(self, name)]


@dataclass(frozen=True)
class Feature:
    meaning: str
    way_out: str


FEATURES: dict[str, Feature] = {
    "terminate": Feature(
        "migrate chaos terminate can cut the target off (what a provider pulling the plug leaves)",
        "drill between targets whose adapters can be terminated (migrate providers lists them)",
    ),
    "holding_page": Feature(
        "a holding page can be served on the target's own address once it is gone",
        "serve it from a machine you control: migrate holding-page up --bind ADDRESS, and point DNS at it",
    ),
    "superuser_url": Feature(
        "the stack hands out a superuser URL (database_admin_url) for logical replication",
        "set MIGRATE_FROM_ADMIN_URL / MIGRATE_TO_ADMIN_URL, or use data_mode=restore",
    ),
    "bucket_events": Feature(
        "its object storage delivers bucket event notifications (data follow --events)",
        "the media follower copies by passes instead (lag up to one pass)",
    ),
    "disposable": Feature(
        "destroying it loses nothing off this machine, so a non-interactive destroy needs no --yes",
        "pass --yes",
    ),
    "config_files": Feature(
        "it hands each replica the config files the spec's processes declare (files:)",
        "deploy this app to a target whose adapter can (migrate providers lists them), or configure it by env",
    ),
    "database_locale": Feature(
        "it creates the app's database with the locale the spec gives (postgres.locale)",
        "create the database yourself with that locale before the first deploy, or drop postgres.locale",
    ),
    "restart_processes": Feature(
        "its stack restarts the processes marked restart_after_promotion when migrate bumps their generation",
        "restart them yourself on the destination right after promotion, before users arrive",
    ),
}


@dataclass(frozen=True)
class AdapterFinding:
    """What an adapter tells the audit about its provider (the audit's ``Finding``, kept here
    so providers need nothing from the audit). ``severity``: critical, warning or info."""

    area: str
    severity: str
    message: str
    fix: str = ""


class UnsupportedError(InputError):
    """The core asked an adapter for something its ``supports`` does not offer."""


@dataclass
class Termination:
    """What ``terminate`` cut off: ``stopped`` names each thing (process, server, task) and
    its id; ``how`` is one line saying what was done."""

    target: str
    address: str
    stopped: dict[str, Any]
    seconds: float
    how: str = ""

    @property
    def killed(self) -> dict[str, Any]:
        """The older name of ``stopped``."""
        return self.stopped


class Cut:
    """A termination under way, timed from its start: what it has stopped so far (``kind:name``
    -> id, as ``Termination.stopped``), and, when it is ``done``, the ``Termination``."""

    def __init__(self, target: str, address: str) -> None:
        self.target, self.address = target, address
        self.stopped: dict[str, Any] = {}
        self.started = time.monotonic()

    def count(self, kind: str) -> int:
        """How many things of ``kind`` (the ``kind:`` their names start with) it has stopped."""
        return sum(1 for name in self.stopped if name.startswith(f"{kind}:"))

    def done(self, how: str) -> Termination:
        return Termination(self.target, self.address, self.stopped, time.monotonic() - self.started, how)


@dataclass(frozen=True)
class RunContext:
    """What a stack needs beyond the spec and the target's settings, handed to its ``build``:
    ``app_dir``, where the app's code is (the spec file's directory): processes run there."""

    app_dir: Path


# What an adapter covers when its ``capabilities`` leave a capability out: hosting adapters
# serve no DNS unless they say so (the zone belongs with a DNS provider the spec names).
DEFAULT_CAPABILITIES: dict[Capability, str] = {Capability.DNS: "none: use a DNS provider"}


class HostingAdapter(ABC):
    """Turns the one service spec into one provider's resources, inside a Pulumi program.

    ``capabilities`` says, per capability, how the adapter covers it: ``native`` when
    the provider offers it as a service, or a short description of the self-run
    stand-in (``self-run: Postgres on a server with a volume``); one it leaves out takes
    its ``DEFAULT_CAPABILITIES`` entry. ``supports`` is what the core may ask of it; the
    methods below are the per-provider behaviour behind those flags. An adapter declares
    only what differs from these defaults.
    """

    name: ClassVar[str]
    company: ClassVar[str]
    description: ClassVar[str]
    capabilities: ClassVar[dict[Capability, str]]
    supports: ClassVar[Supports] = Supports()
    # Which feed ``data follow --events`` reads (``supports.bucket_events`` says whether there is one).
    media_change_feed: ClassVar[ChangeFeed] = ChangeFeed.NONE
    # One line: what ``terminate`` does on this provider (README, ``migrate providers``).
    termination: ClassVar[str] = "not supported"
    # Pulumi resource provider plugins the stack needs (name, version); empty = none.
    plugins: ClassVar[tuple[tuple[str, str], ...]] = ()
    # Environment variables its plugins read for themselves (credentials, kubeconfig): the only
    # ones of the operator's, beyond the engine's own, the Pulumi CLI is given (a trailing ``_``
    # is a prefix). Settings passed explicitly to the provider need none.
    engine_env: ClassVar[tuple[str, ...]] = ()
    # The object storage endpoint when the stack exports none (the provider's SDK default).
    default_s3_endpoint: ClassVar[bool] = False
    # Host suffixes of the provider's object storage endpoints: the audit tells whose storage
    # a backup or state location is by them.
    storage_hosts: ClassVar[tuple[str, ...]] = ()
    # One line: how the machine running migrate reaches the data services (``migrate providers``).
    data_route: ClassVar[str] = "direct: the addresses the stack exports"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "capabilities" in cls.__dict__:
            cls.capabilities = {**DEFAULT_CAPABILITIES, **cls.capabilities}

    def program(self, spec: ServiceSpec, target: str, settings: Any, context: RunContext | None = None) -> None:
        """Declare the target's resources and ``pulumi.export`` the shared outputs.

        The resources live in ``stacks.<name>``; it is imported here, inside the Pulumi
        program, so listing or planning adapters never loads the provider SDKs. The
        context travels as an argument (no module state): ``build(spec, target, settings,
        context)``.
        """
        import importlib

        context = context or RunContext(app_dir=Path.cwd())
        importlib.import_module(f"stacks.{self.name}").build(spec, target, settings, context)

    def resource_plan(self, spec: ServiceSpec, settings: Any) -> list[tuple[str, int]]:
        """Resource types and counts the spec maps to, shown before anything is created."""
        return []

    def terminate(self, spec: ServiceSpec, target: str, settings: Any) -> Termination:
        """Cut the service off at once, without a Pulumi call (the stack still believes it all
        runs), so that ``migrate up`` brings it back. Only when ``supports.terminate``. It
        finds the target's resources itself (by the tags every stack puts on them), so it
        needs nothing from the state backend, which may be slow or gone.

        The work is ``terminate(spec, target, settings)`` in ``providers.<name>.terminate``,
        imported only here (as ``program`` imports the stack), so listing adapters loads no
        provider SDK."""
        if not self.supports.terminate:
            raise UnsupportedError(self.unsupported("terminate", target))
        import importlib

        cut: Termination = importlib.import_module(f"providers.{self.name}.terminate").terminate(spec, target, settings)
        return cut

    def data_access(
        self, spec: ServiceSpec, target: str, settings: Any, outputs: TargetOutputs, stack: ExitStack
    ) -> TargetOutputs:
        """The outputs as the machine running migrate reaches the data services (Postgres,
        Redis, object storage): as exported, by default. An adapter whose services listen
        only where that machine cannot reach them opens its way in (an SSH tunnel, say) on
        ``stack``, which the data step closes when it ends, and returns outputs pointing
        there. What the apps themselves use stays as exported."""
        return outputs

    def holding_address(
        self, spec: ServiceSpec, target: str, settings: Any, outputs: Callable[[], TargetOutputs]
    ) -> tuple[str, int]:
        """Where a holding page for a gone target listens (its own address and port). Only
        when ``supports.holding_page``. ``outputs`` reads the target's outputs, if needed."""
        raise UnsupportedError(self.unsupported("holding_page", target))

    def audit_findings(self, spec: ServiceSpec, target: str, settings: Any) -> list[AdapterFinding]:
        """What this provider keeps that would not survive it ending the account."""
        return []

    def operator_of(self, settings: Any) -> str:
        """The company running the target: the spec's ``operator:``, else the adapter's own."""
        return str(getattr(settings, "operator", None) or self.company)

    def managed_backups(self, spec: ServiceSpec, settings: Any, *, snapshot: bool = False) -> list[AdapterFinding]:
        """A managed database: its automated backups go with the account."""
        if spec.postgres is None:
            return []
        also = " and final snapshot" if snapshot else ""
        return [
            AdapterFinding(
                "backups",
                "warning",
                f"the managed database's automated backups{also} are kept by {self.operator_of(settings)} "
                "only and go with the account",
                "keep logical dumps or a replica at another company (migrate data copy)",
            )
        ]

    def self_run_backups(self, spec: ServiceSpec, settings: Any) -> list[AdapterFinding]:
        """Postgres run on the hosts' own storage: no backup anywhere else."""
        if spec.postgres is None:
            return []
        operator = self.operator_of(settings)
        whose = "the hosts'" if operator == "self" else f"{operator}'s"
        return [
            AdapterFinding(
                "backups",
                "warning",
                f"Postgres is self-run on {whose} storage with no backup elsewhere",
                "schedule dumps to another company's object storage, or keep a replica elsewhere",
            )
        ]

    def unsupported(self, feature: str, target: str) -> str:
        """The one line for a missing ``feature``: what is missing and the way out."""
        return unsupported_line(self.name, feature, target)


def unsupported_line(provider: str, feature: str, target: str) -> str:
    about = FEATURES[feature]
    return f"target {target} ({provider}) cannot do {feature!r} ({about.meaning}): {about.way_out}"
