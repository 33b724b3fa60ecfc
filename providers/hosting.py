"""The small base every hosting adapter implements, and the capability vocabulary."""

from __future__ import annotations

from abc import ABC
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec


class Capability(StrEnum):
    PROCESSES = "processes"
    POSTGRES = "postgres"
    REDIS = "redis"
    OBJECT_STORAGE = "object_storage"
    LOAD_BALANCER = "load_balancer"
    TLS = "tls"
    DNS = "dns"


@dataclass(frozen=True)
class RunContext:
    """What a stack needs beyond the spec and the target's settings, handed to its ``build``:
    ``app_dir``, where the app's code is (the spec file's directory): processes run there."""

    app_dir: Path


class HostingAdapter(ABC):
    """Turns the one service spec into one provider's resources, inside a Pulumi program.

    ``capabilities`` says, per capability, how the adapter covers it: ``native`` when
    the provider offers it as a service, or a short description of the self-run
    stand-in (``self-run: Postgres on a server with a volume``).
    """

    name: ClassVar[str]
    company: ClassVar[str]
    description: ClassVar[str]
    capabilities: ClassVar[dict[Capability, str]]
    # Pulumi resource provider plugins the stack needs (name, version); empty = none.
    plugins: ClassVar[tuple[tuple[str, str], ...]] = ()

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
