from __future__ import annotations

from typing import Literal

from migrate.spec.secrets import SecretRef
from providers._base_settings import ProviderSettings


class HetznerSettings(ProviderSettings):
    provider: Literal["hetzner"]
    location: str = "fsn1"
    token: SecretRef
    server_type: str = "cx32"
    database_server_type: str = "cx42"
    object_storage_endpoint: str = "https://fsn1.your-objectstorage.com"
    s3_access_key: SecretRef | None = None
    s3_secret_key: SecretRef | None = None
