"""The outputs every hosting adapter returns: the contract later steps read.

Data moving, DNS swings and drills read only this, so they never care which
provider a target runs on. Secret fields are ``SecretStr``: printing a model never
shows them; ``reveal()`` is for the code that must connect.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

# Exported only where the provider hands out a superuser (the local sandbox); managed databases don't.
OPTIONAL_OUTPUTS = frozenset({"database_admin_url"})
SECRET_OUTPUTS = frozenset({"database_url", "database_admin_url", "s3_access_key", "s3_secret_key", "redis_url"})


class TargetOutputs(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    target: str
    provider: str
    public_addresses: list[str] = Field(description="Addresses the service's A/AAAA records take.")
    public_hostname: str | None = Field(None, description="For CNAME records (a load balancer).")
    http_port: int = 80
    health_url: str
    database_url: SecretStr | None = None
    database_admin_url: SecretStr | None = Field(
        None, description="A superuser's URL (where the provider gives one): subscriptions on Postgres 15 need it."
    )
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_buckets: dict[str, str] = Field(
        default_factory=dict, description="Spec bucket name -> the provider's bucket name."
    )
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_events_url: str | None = Field(
        None, description="The object store's own change feed, where its provider has one (see media_change_feed)."
    )
    redis_url: SecretStr | None = None

    @classmethod
    def from_stack(cls, target: str, provider: str, values: dict[str, Any]) -> TargetOutputs:
        """Build from a Pulumi stack's output values (already unwrapped)."""
        return cls.model_validate({"target": target, "provider": provider, **values})

    def public_view(self) -> dict[str, Any]:
        """Everything safe to print: secrets shown as ``[secret]``."""
        view = self.model_dump(mode="json")
        for key in SECRET_OUTPUTS:
            if view.get(key) is not None:
                view[key] = "[secret]"
        return view
