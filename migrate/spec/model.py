"""The service spec as pydantic models: what a social app is, independent of any host."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from migrate.spec.inline import env_name_problem
from migrate.spec.probes import HttpCheck, Probes, Readiness
from migrate.spec.secrets import SecretRef
from providers.settings import DnsProviderSettings, RegistrarSettings, TargetSettings

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
# Upper bound of any duration in the spec: a week. A 300-digit timeout is a typo, not a plan.
MAX_SECONDS = 7 * 24 * 3600


class StrictModel(BaseModel):
    """Unknown fields are errors: a typo must not silently become a default."""

    model_config = ConfigDict(extra="forbid")


class ServiceInfo(StrictModel):
    name: Name
    domain: str = Field(description="The DNS domain (zone apex) the service answers on.")

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        value = value.rstrip(".").lower()
        if not re.fullmatch(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*", value):
            raise ValueError(f"not a DNS domain name: {value!r}")
        return value


class Process(StrictModel):
    """One app process kind, e.g. ``web`` or ``worker``."""

    image: str | None = Field(None, description="Container image, for container runtimes.")
    command: str | None = Field(
        None,
        description="Command line, run as written; {host}, {port} are where to listen, {python} is migrate's "
        "own interpreter (a plain `python` is the PATH's, the app's).",
    )
    port: int | None = Field(None, ge=1, le=65535)
    health_path: str = "/healthz"
    ready: Readiness | None = Field(
        None, description="A path that must answer before a started replica counts as up (default: its port opens)."
    )
    start_timeout_seconds: float = Field(30.0, gt=0, le=3600, description="How long a replica may take to start.")
    replicas: int = Field(1, ge=0, le=1000)
    public: bool = False
    env: dict[str, str] = Field(default_factory=dict)
    files: dict[str, str] = Field(
        default_factory=dict,
        description="Config files the app reads, name -> template: the target's parts ({db.host}...), "
        "{secret.NAME}, and per replica {host}, {port}, {replica}, {files} (their directory; use it in "
        "the command). Private to each replica (0600) and secret in the state.",
    )
    restart_after_promotion: bool = Field(
        False,
        description="Restart it on the destination once its database is promoted, before any user is sent: "
        "for an app that caches database state in memory (it ran beside a replica that changed under it).",
    )

    @model_validator(mode="after")
    def _runnable(self) -> Process:
        if not self.image and not self.command:
            raise ValueError("give an image, a command, or both")
        if self.public and self.port is None:
            raise ValueError("a public process needs a port")
        if not self.health_path.startswith("/"):
            raise ValueError("health_path must start with /")
        return self


class Postgres(StrictModel):
    version: Literal[13, 14, 15, 16, 17] = 15
    size: Literal["small", "medium", "large"] = "small"
    storage_gb: int = Field(10, ge=1, le=65536)
    database: Name
    user: Name = "app"
    extensions: list[str] = Field(default_factory=list)
    locale: str | None = Field(
        None,
        pattern=r"^[A-Za-z][A-Za-z0-9_.@-]{0,63}$",
        description="The database's collation and ctype (e.g. C, which Synapse requires); the provider's "
        "default when unset. Fixed at creation.",
    )


class Redis(StrictModel):
    version: str = "7"
    size: Literal["small", "medium", "large"] = "small"


class Bucket(StrictModel):
    name: Name
    public: bool = False


class Media(StrictModel):
    buckets: list[Bucket] = Field(min_length=1)


class DnsRecord(StrictModel):
    """A record the service owns. Without ``value`` it points at the active target."""

    name: str = Field(description="'@' for the apex, or a label relative to the zone.")
    type: Literal["A", "AAAA", "CNAME", "TXT", "MX"] = "A"
    value: str | None = Field(None, description="A fixed value; omit to follow the target.")
    ttl: int | None = Field(None, ge=1, le=604800)

    @field_validator("name")
    @classmethod
    def _label(cls, value: str) -> str:
        if value != "@" and not re.fullmatch(r"(\*\.)?[a-z0-9_]([a-z0-9_.-]*[a-z0-9])?", value):
            raise ValueError(f"not a record name relative to the zone: {value!r}")
        return value


class DnsSpec(StrictModel):
    zone: str | None = Field(None, description="Defaults to service.domain.")
    ttl: int = Field(60, ge=1, le=604800)
    records: list[DnsRecord] = Field(min_length=1)
    providers: list[str] = Field(min_length=1, description="Names from dns_providers.")
    nameservers: list[str] = Field(
        default_factory=list, description="Extra authoritative servers to verify (host[:port])."
    )
    resolvers: list[str] = Field(default_factory=list, description="Resolvers to verify too.")


class HoldingPage(StrictModel):
    title: str = "We'll be right back"
    message: str = "We are moving to a new home. Service resumes shortly."


class Recovery(StrictModel):
    """Recovery goals, used by drills, audits and pre-flight checks."""

    rto_seconds: int = Field(600, ge=1, le=MAX_SECONDS)
    rpo_seconds: int = Field(60, ge=0, le=MAX_SECONDS)


class ServiceSpec(StrictModel):
    """The whole service, once. Targets and DNS providers are named, settings by adapter."""

    version: Literal[1] = 1
    service: ServiceInfo
    processes: dict[Name, Process] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, SecretRef] = Field(default_factory=dict)
    postgres: Postgres | None = None
    redis: Redis | None = None
    media: Media | None = None
    dns: DnsSpec
    holding_page: HoldingPage = Field(default_factory=HoldingPage)
    recovery: Recovery = Field(default_factory=Recovery)
    smoke: list[HttpCheck] | None = Field(
        None,
        description="What B must answer before DNS is sent there (default: the health path and / answer 200).",
    )
    probes: Probes | None = Field(
        None, description="How a drill writes to the app and reads a write back through its front (RPO per write)."
    )
    targets: dict[Name, TargetSettings] = Field(min_length=1)
    dns_providers: dict[Name, DnsProviderSettings] = Field(default_factory=dict)
    registrars: dict[Name, RegistrarSettings] = Field(
        default_factory=dict,
        description="Where the domain is registered: lets `migrate dns delegate` move its nameservers.",
    )
    # The file it was loaded from (set by ``load_spec``): the app's code sits beside it, so the
    # engine runs local processes there unless told otherwise.
    _source_path: Path | None = PrivateAttr(None)

    @property
    def source_path(self) -> Path | None:
        return self._source_path

    @source_path.setter
    def source_path(self, path: Path | None) -> None:
        self._source_path = path

    @property
    def zone(self) -> str:
        return (self.dns.zone or self.service.domain).rstrip(".")

    def public_process(self) -> tuple[str, Process]:
        """The process the load balancer routes to (the first public one)."""
        for name, process in self.processes.items():
            if process.public:
                return name, process
        raise LookupError("no public process")

    def target(self, name: str) -> TargetSettings:
        from migrate.errors import InputError

        try:
            return self.targets[name]
        except KeyError:
            known = ", ".join(sorted(self.targets)) or "none"
            raise InputError(f"unknown target {name!r} (the spec has: {known})") from None


def cross_check(spec: ServiceSpec) -> list[tuple[tuple[str | int, ...], str]]:
    """Checks that span several sections, as (field path, message) pairs."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for index, provider in enumerate(spec.dns.providers):
        if provider not in spec.dns_providers:
            known = ", ".join(sorted(spec.dns_providers)) or "none defined"
            problems.append((("dns", "providers", index), f"unknown DNS provider {provider!r} ({known})"))
    if not any(p.public for p in spec.processes.values()):
        problems.append((("processes",), "no process is public; mark one with public: true"))
    from migrate.spec import envrefs

    problems += envrefs.problems(spec)
    from migrate.spec import appfiles

    problems += appfiles.problems(spec)
    for key in spec.secrets:
        if problem := env_name_problem(key):
            problems.append((("secrets", key), problem))
        if key in spec.env:
            problems.append((("secrets", key), f"{key} is also set in env"))
    return problems
