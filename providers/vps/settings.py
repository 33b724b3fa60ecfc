from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from migrate.spec.secrets import SecretRef
from providers._base_settings import ProviderSettings

Role = Literal["app", "db", "storage", "front"]


def _all_roles() -> list[Role]:
    return ["app", "db", "storage", "front"]


class SshHost(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str
    port: int = Field(22, ge=1, le=65535)
    user: str = "root"
    private_key: SecretRef | None = None
    private_address: str | None = Field(
        None, description="Address the other hosts reach this one on; defaults to address."
    )
    host_key: str | None = Field(None, description="Expected SSH host key (known_hosts line).")
    roles: list[Role] = Field(default_factory=_all_roles)

    @field_validator("host_key")
    @classmethod
    def _a_public_key(cls, value: str | None) -> str | None:
        """A pin must be a key ('ssh-ed25519 AAAA...'), else it would silently mean first use."""
        if value is None:
            return value
        from providers.vps.ssh import SshError, parse_host_key

        try:
            kind, blob = parse_host_key(value)
        except SshError as exc:
            raise ValueError(str(exc).removeprefix("host_key: ")) from None
        return f"{kind} {blob}"


class VpsSettings(ProviderSettings):
    provider: Literal["vps"]
    hosts: list[SshHost] = Field(min_length=1)
    base_dir: str = Field("/srv/migrate", description="Where data and config live on the hosts.")
    http_port: int = Field(80, ge=1, le=65535, description="Port nginx listens on (front hosts).")
    # Images the hosts run (their own registry's names): the stack relies only on each
    # image's interface, the one the official images have.
    object_store_image: str = Field(
        "versity/versitygw:v1.8.0", description="A versitygw image (Apache-2.0); its entrypoint is versitygw."
    )
    postgres_image: str | None = Field(
        None, description="A Postgres image taking POSTGRES_USER/PASSWORD/DB and PGDATA; default postgres:<version>."
    )
    redis_image: str | None = Field(
        None, description="An image with redis-server on its PATH; default redis:<version>."
    )
    front_image: str = Field(
        "nginx:1.27", description="An nginx image reading /etc/nginx/conf.d/*.conf (the front, host network)."
    )
    tls_certificate: SecretRef | None = Field(None, description="PEM chain for nginx (HTTPS).")
    tls_private_key: SecretRef | None = None
