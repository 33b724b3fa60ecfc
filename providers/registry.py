"""Which adapters exist, found by name without importing their heavy SDKs."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from migrate.errors import InputError

if TYPE_CHECKING:
    from providers.dnsbase import DnsProvider
    from providers.hosting import HostingAdapter
    from providers.registrarbase import Registrar

# name -> "module:Class"; the module is imported only when the adapter is used.
HOSTING_ADAPTERS: dict[str, str] = {
    "local": "providers.local.adapter:LocalAdapter",
    "aws": "providers.aws.adapter:AwsAdapter",
    "hetzner": "providers.hetzner.adapter:HetznerAdapter",
    "digitalocean": "providers.digitalocean.adapter:DigitalOceanAdapter",
    "vps": "providers.vps.adapter:VpsAdapter",
    "kubernetes": "providers.kubernetes.adapter:KubernetesAdapter",
}

DNS_PROVIDERS: dict[str, str] = {
    "rfc2136": "providers.rfc2136.provider:Rfc2136Provider",
    "powerdns": "providers.powerdns.provider:PowerDnsProvider",
    "route53": "providers.route53.provider:Route53Provider",
    "cloudflare": "providers.cloudflare.provider:CloudflareProvider",
}

REGISTRARS: dict[str, str] = {
    "route53domains": "providers.route53domains.registrar:Route53DomainsRegistrar",
    "gandi": "providers.gandi.registrar:GandiRegistrar",
}


def _load(table: dict[str, str], name: str, kind: str) -> type:
    try:
        dotted = table[name]
    except KeyError:
        known = ", ".join(sorted(table))
        raise InputError(f"unknown {kind} {name!r} (known: {known})") from None
    module_name, _, attribute = dotted.partition(":")
    module = importlib.import_module(module_name)
    cls: type = getattr(module, attribute)
    return cls


def hosting_adapter(name: str) -> HostingAdapter:
    adapter: HostingAdapter = _load(HOSTING_ADAPTERS, name, "hosting adapter")()
    return adapter


def dns_provider_class(name: str) -> type[DnsProvider]:
    cls: type[DnsProvider] = _load(DNS_PROVIDERS, name, "DNS provider")
    return cls


def registrar_class(name: str) -> type[Registrar]:
    cls: type[Registrar] = _load(REGISTRARS, name, "registrar")
    return cls
