"""What every registrar adapter shares: read a domain's nameservers, set them.

A registrar is where the parent zone's delegation comes from: when the DNS host is the
one cutting you off, the copy of the zone elsewhere is only reachable once the registrar
hands out the new nameservers. Same spirit as ``providers.dnsbase``: a small base class, a
``Capabilities`` record, errors as ``RegistrarError`` (exit 1) naming the registrar.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from providers.account import ProviderAccount


def host(name: str) -> str:
    """A nameserver host name as compared and journaled: lower-case, trailing dot."""
    return name.strip().lower().rstrip(".") + "."


def in_zone(name: str, domain: str) -> bool:
    """Whether ``name`` sits inside ``domain`` (and so needs glue at the registry)."""
    name, domain = host(name), host(domain)
    return name == domain or name.endswith("." + domain)


@dataclass(frozen=True, order=True)
class Nameserver:
    """One delegated nameserver; ``glue`` holds its addresses when it sits inside the domain."""

    name: str
    glue: tuple[str, ...] = ()

    @classmethod
    def make(cls, name: str, glue: Iterable[str] = ()) -> Nameserver:
        return cls(host(name), tuple(sorted(set(glue))))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "glue": list(self.glue)}

    @classmethod
    def from_json(cls, data: dict[str, Any] | str) -> Nameserver:
        if isinstance(data, str):
            return cls.make(data)
        return cls.make(data["name"], data.get("glue", ()))


def same_names(a: Iterable[Nameserver], b: Iterable[Nameserver]) -> bool:
    return sorted(n.name for n in a) == sorted(n.name for n in b)


@dataclass(frozen=True)
class RegistrarCapabilities:
    """What a registrar adapter can do."""

    glue: bool  # can it set glue addresses for in-domain nameservers with the delegation?
    min_nameservers: int = 1
    max_nameservers: int = 13
    asynchronous: bool = False  # does a change run as an operation polled to completion?


StatusCallback = Callable[[str], None]
"""Called with a short status line while a change is in progress (printing is the caller's)."""


class Registrar(ProviderAccount, abc.ABC):
    """One registrar account holding the domain."""

    capabilities: ClassVar[RegistrarCapabilities]

    @abc.abstractmethod
    def nameservers(self, domain: str) -> list[Nameserver]:
        """The nameservers the registrar delegates ``domain`` to now."""

    @abc.abstractmethod
    def set_nameservers(
        self, domain: str, nameservers: list[Nameserver], status: StatusCallback | None = None
    ) -> str | None:
        """Replace the delegation; return the registrar's operation id, if it has one.

        Returns only when the registrar reports the change done; raises ``RegistrarError``.
        """

    def close(self) -> None:
        """Release connections."""


def make_registrar(name: str, settings: Any) -> Registrar:
    """Build the adapter for a spec's ``registrars`` entry."""
    from providers.registry import registrar_class

    cls = registrar_class(settings.provider)
    registrar: Registrar = cls(name, settings)
    return registrar
