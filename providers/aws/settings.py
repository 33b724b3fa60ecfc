from __future__ import annotations

from typing import Literal

from pydantic import Field

from migrate.spec.secrets import SecretRef
from providers._base_settings import ProviderSettings


class AwsSettings(ProviderSettings):
    provider: Literal["aws"]
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    profile: str | None = None
    access_key_id: SecretRef | None = None
    secret_access_key: SecretRef | None = None
    vpc_cidr: str = "10.40.0.0/16"
    certificate_arn: str | None = Field(None, description="ACM certificate; issued if omitted.")
