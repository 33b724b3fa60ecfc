"""The outputs every hosting adapter returns: the contract later steps read.

Data moving, DNS swings and drills read only this, so they never care which
provider a target runs on. Secret fields are ``SecretStr``: printing a model never
shows them; ``reveal()`` is for the code that must connect.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from migrate.errors import InputError

# An outputs file is a few hundred bytes; anything much larger is the wrong file.
OUTPUTS_FILE_LIMIT = 1 << 20

# Exported only where the provider has them: a superuser URL (the local sandbox; managed databases
# give none), an S3 change feed of its own (the sandbox's webhook listener) and the SSH host keys
# of hosts reached over SSH (vps).
OPTIONAL_OUTPUTS = frozenset({"database_admin_url", "s3_events_url", "ssh_host_keys"})
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
    ssh_host_keys: dict[str, str] = Field(
        default_factory=dict,
        description="SSH host keys the stack pinned (address -> 'type base64'): its adapter's own way in.",
    )

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

    @classmethod
    def from_file(cls, path: Path, what: str, target: str | None = None) -> TargetOutputs:
        """The one reader of an outputs file (``migrate up --json`` or ``--outputs FILE``).

        ``what`` names the option in errors (``--outputs``). ``target`` is the target the
        command was told (``--to``): a file naming another target is refused, since acting
        on the wrong target's addresses or database is the worst mistake a swing can make.
        Missing ``target``/``provider``/``health_url``/``public_addresses`` get neutral
        defaults; every error is one line naming the file, never its contents.
        """
        values = _read_json_file(path, what)
        if not isinstance(values, dict):
            raise InputError(f"{what} {path}: not target outputs (a JSON object is expected)")
        named = values.get("target")
        if target is not None and named is not None and named != target:
            raise InputError(f"{what} {path}: holds the outputs of target {named!r}, not {target!r}")
        defaults = {"target": target or path.stem, "provider": "outputs-file", "public_addresses": [], "health_url": ""}
        try:
            return cls.model_validate({**defaults, **values})
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(map(str, first["loc"])) or "outputs"
            raise InputError(f"{what} {path}: {field}: {first['msg']}") from None


def _read_json_file(path: Path, what: str) -> Any:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise InputError(f"{what} {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{what} {path}: not a regular file")
        data = handle.read(OUTPUTS_FILE_LIMIT + 1)
    if len(data) > OUTPUTS_FILE_LIMIT:
        raise InputError(f"{what} {path}: larger than {OUTPUTS_FILE_LIMIT // 1024} KiB: not an outputs file")
    try:
        return json.loads(data)
    except ValueError:
        raise InputError(f"{what} {path}: not JSON") from None
