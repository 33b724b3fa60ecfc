"""Which providers exist: every package under ``providers/`` that has one of the kind's modules.

Adding a provider is one package: ``providers/<name>/adapter.py`` (a hosting adapter),
``provider.py`` (a DNS provider) or ``registrar.py`` (a registrar), beside its
``settings.py``; and, for a hosting adapter, ``stacks/<name>.py`` (and ``terminate.py`` when
it declares ``supports.terminate``). Nothing is listed by
hand. The tables are found from the file tree, so listing them imports no provider SDK;
a provider's module is imported when it is used, and its class is the one subclass of the
kind's base defined there.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from migrate.errors import InputError
from providers.discovery import discover

if TYPE_CHECKING:
    from providers.dnsbase import DnsProvider
    from providers.hosting import HostingAdapter
    from providers.registrarbase import Registrar

# kind -> the base class of that kind, as "module:Class"
KINDS: dict[str, str] = {
    "hosting": "providers.hosting:HostingAdapter",
    "dns": "providers.dnsbase:DnsProvider",
    "registrar": "providers.registrarbase:Registrar",
}


HOSTING_ADAPTERS: dict[str, str] = discover("hosting")
DNS_PROVIDERS: dict[str, str] = discover("dns")
REGISTRARS: dict[str, str] = discover("registrar")
_TABLES = {"hosting": HOSTING_ADAPTERS, "dns": DNS_PROVIDERS, "registrar": REGISTRARS}
_NOUNS = {"hosting": "hosting adapter", "dns": "DNS provider", "registrar": "registrar"}


def provider_class(kind: str, name: str) -> type:
    """The class of provider ``name`` of ``kind``: the subclass of the kind's base its module defines."""
    table = _TABLES[kind]
    try:
        module_name = table[name]
    except KeyError:
        known = ", ".join(sorted(table))
        raise InputError(f"unknown {_NOUNS[kind]} {name!r} (known: {known})") from None
    base_module, _, base_name = KINDS[kind].partition(":")
    base = getattr(importlib.import_module(base_module), base_name)
    module = importlib.import_module(module_name)
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, base) and value.__module__ == module_name
    ]
    if len(found) != 1:
        raise InputError(f"{module_name} must define exactly one {_NOUNS[kind]} class (found {len(found)})")
    cls: type = found[0]
    return cls


def hosting_adapter(name: str) -> HostingAdapter:
    adapter: HostingAdapter = provider_class("hosting", name)()
    return adapter


def dns_provider_class(name: str) -> type[DnsProvider]:
    cls: type[DnsProvider] = provider_class("dns", name)
    return cls


def registrar_class(name: str) -> type[Registrar]:
    cls: type[Registrar] = provider_class("registrar", name)
    return cls
