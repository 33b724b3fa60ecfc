"""Who runs what: the company behind a target, a DNS provider or a storage location.

The spec's ``operator:`` wins; otherwise the adapter's or DNS provider's own ``company``
(the sandbox's nameservers are ``local``: this machine, like the local targets). ``self``
means "run by you on some company's machines": an unknown company, never assumed equal to
another ``self``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from migrate.audit.findings import Finding, Severity

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec

UNKNOWN = "self"
LOCAL = "local"


def target_operator(spec: ServiceSpec, target: str) -> str:
    from providers.registry import HOSTING_ADAPTERS, hosting_adapter

    settings = spec.targets[target]
    if settings.operator:
        return settings.operator
    if settings.provider in HOSTING_ADAPTERS:
        return hosting_adapter(settings.provider).company
    return str(settings.provider)


def dns_operator(spec: ServiceSpec, name: str) -> str:
    from providers.registry import DNS_PROVIDERS, dns_provider_class

    settings = spec.dns_providers[name]
    if settings.operator:
        return settings.operator
    if getattr(settings, "sandbox", None):
        return LOCAL
    if settings.provider in DNS_PROVIDERS:
        return dns_provider_class(settings.provider).company
    return str(settings.provider)


def location_operator(url: str) -> str | None:
    """The company keeping ``url`` (a backup or state location): ``local`` for a path."""
    parsed = urlparse(url)
    if parsed.scheme in ("file", ""):
        return LOCAL
    if parsed.scheme == "s3":
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
        return _storage_company(urlparse(endpoint).hostname or "amazonaws.com") or "s3-compatible"
    return _storage_company(parsed.hostname) if parsed.hostname else None


def storage_hosts() -> dict[str, str]:
    """Object storage endpoints by host suffix (backups, Pulumi state in S3), from each
    adapter's ``storage_hosts``: suffix -> the adapter's company."""
    from providers.registry import HOSTING_ADAPTERS, hosting_adapter

    adapters = [hosting_adapter(name) for name in HOSTING_ADAPTERS]
    return {suffix: a.company for a in adapters for suffix in a.storage_hosts}


def _storage_company(host: str | None) -> str | None:
    return next((c for suffix, c in storage_hosts().items() if host and host.endswith(suffix)), None)


def same_operator(a: str | None, b: str | None) -> bool:
    return a is not None and a == b and a != UNKNOWN


def unnamed_operator(spec: ServiceSpec, target: str) -> list[Finding]:
    if target_operator(spec, target) != UNKNOWN:
        return []
    return [
        Finding(
            "operator",
            Severity.WARNING,
            f"{target} runs on machines of an unnamed company, so the audit cannot tell what "
            "else that company operates",
            f"set targets.{target}.operator to the company renting the hosts or the cluster",
        )
    ]


def shared_fate(spec: ServiceSpec, source: str, dest: str) -> list[Finding]:
    """Moving to a target of the same company leaves you exposed to the same termination."""
    operator = target_operator(spec, source)
    if operator == LOCAL or not same_operator(operator, target_operator(spec, dest)):
        return []
    return [
        Finding(
            "target",
            Severity.WARNING,
            f"{dest} is run by {operator} too: an outage or termination there takes both",
            "prefer a target at another company",
        )
    ]
