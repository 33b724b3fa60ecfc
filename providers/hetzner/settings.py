from __future__ import annotations

from typing import Literal

from pydantic import Field

from migrate.spec.secrets import SecretRef
from providers._base_settings import ProviderSettings

# Where Hetzner Object Storage exists (the S3 endpoint is https://LOCATION.your-objectstorage.com).
OBJECT_STORAGE_LOCATIONS = ("fsn1", "nbg1", "hel1")


class HetznerSettings(ProviderSettings):
    provider: Literal["hetzner"]
    location: str = "fsn1"
    token: SecretRef
    server_type: str = "cx32"
    database_server_type: str = "cx42"
    image: str = "debian-12"
    network_cidr: str = Field("10.50.0.0/16", description="Private network of the target.")
    load_balancer_type: str = "lb11"
    certificate_id: int | None = Field(
        None, description="Hetzner certificate for HTTPS on the LB; plain HTTP if omitted."
    )
    ssh_keys: list[str] = Field(default_factory=list, description="Hetzner SSH key names put on every server.")
    object_storage_endpoint: str | None = Field(
        None, description="Defaults to https://LOCATION.your-objectstorage.com."
    )
    s3_access_key: SecretRef | None = Field(
        None, description="Object Storage credentials (Hetzner's API cannot issue them)."
    )
    s3_secret_key: SecretRef | None = None
