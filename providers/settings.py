"""The settings of every provider, as discriminated unions the spec validates against.

Adding a provider: write ``providers/<name>/settings.py`` and list its model here and in
``providers/registry.py``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from providers.aws.settings import AwsSettings
from providers.cloudflare.settings import CloudflareSettings
from providers.digitalocean.settings import DigitalOceanSettings
from providers.gandi.settings import GandiSettings
from providers.hetzner.settings import HetznerSettings
from providers.kubernetes.settings import KubernetesSettings
from providers.local.settings import LocalSettings
from providers.powerdns.settings import PowerDnsSettings
from providers.rfc2136.settings import Rfc2136Settings
from providers.route53.settings import Route53Settings
from providers.route53domains.settings import Route53DomainsSettings
from providers.vps.settings import VpsSettings

TargetSettings = Annotated[
    LocalSettings | AwsSettings | HetznerSettings | DigitalOceanSettings | VpsSettings | KubernetesSettings,
    Field(discriminator="provider"),
]

DnsProviderSettings = Annotated[
    Rfc2136Settings | PowerDnsSettings | Route53Settings | CloudflareSettings,
    Field(discriminator="provider"),
]

RegistrarSettings = Annotated[
    Route53DomainsSettings | GandiSettings,
    Field(discriminator="provider"),
]
