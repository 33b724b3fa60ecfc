from __future__ import annotations

from typing import Literal

from migrate.spec.secrets import SecretRef
from providers._base_settings import ProviderSettings


class DigitalOceanSettings(ProviderSettings):
    provider: Literal["digitalocean"]
    region: str = "ams3"
    token: SecretRef
    spaces_access_key: SecretRef | None = None
    spaces_secret_key: SecretRef | None = None
    droplet_size: str = "s-2vcpu-4gb"
