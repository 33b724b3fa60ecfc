from __future__ import annotations

from typing import Literal

from pydantic import Field

from migrate.spec.secrets import SecretRef
from providers._base_settings import ProviderSettings


class DigitalOceanSettings(ProviderSettings):
    provider: Literal["digitalocean"]
    region: str = "ams3"
    token: SecretRef
    spaces_access_key: SecretRef | None = Field(
        None, description="Spaces key the provider manages buckets with (needed for media)."
    )
    spaces_secret_key: SecretRef | None = None
    droplet_size: str = "s-2vcpu-4gb"
    image: str = "debian-12-x64"
    vpc_cidr: str = "10.60.0.0/20"
    ssh_keys: list[str] = Field(default_factory=list, description="SSH key ids or fingerprints.")
    certificate_name: str | None = Field(
        None, description="DigitalOcean certificate for HTTPS on the LB; plain HTTP if omitted."
    )
