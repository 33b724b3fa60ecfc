"""The spec's ``probes:`` section: how to write to the app and read a write back over HTTP.

A drill drives these requests at its ``--rate`` against the source's front (the app's own API,
sent with the service's Host header) and, after recovery, replays the read-back of every
acknowledged write against the destination: a write whose read-back fails is lost. Nothing here
knows any particular app; the app's spec says which paths, bodies and JSON fields to use.

Strings are templates: ``{seq}`` (the write's sequence number), ``{token}`` (unique per write),
``{run}`` (unique per load run), any value captured earlier (``capture: {id: $.id}``), and, in
headers only, secrets as ``{env:NAME}`` or ``{file:PATH}`` (read when the request is sent, never
written anywhere). ``{{`` and ``}}`` are literal braces.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

PLACEHOLDER = re.compile(r"\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<arg>[^{}]+))?\}")
JSON_PATH = re.compile(r"^\$(\.[A-Za-z_][A-Za-z0-9_-]*|\[\d+\])*$")
SECRET_SOURCES = ("env", "file")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _absolute(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("path must start with /")
    return value


UrlPath = Annotated[str, AfterValidator(_absolute)]
"""A path (and query) on the service's front: it starts with ``/``."""


def _secret_placeholders(value: Any) -> list[str]:
    """``{env:…}``/``{file:…}`` placeholders anywhere in a (nested) template value."""
    if isinstance(value, str):
        return [m.group(0) for m in PLACEHOLDER.finditer(value) if m.group("name") in SECRET_SOURCES]
    if isinstance(value, dict):
        return [p for v in value.values() for p in _secret_placeholders(v)]
    if isinstance(value, list):
        return [p for v in value for p in _secret_placeholders(v)]
    return []


class ProbeFile(_Strict):
    """A generated, unique small PNG sent with the request: as a multipart field (``field``) beside
    ``form``, or as the raw request body when ``field`` is omitted."""

    field: str | None = Field(None, description="Multipart field name; omit to send the file as the raw body.")
    filename: str = "{token}.png"
    content_type: str = "image/png"


class ProbeRequest(_Strict):
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: UrlPath = Field(description="Path and query, a template (e.g. /posts/{id}).")
    headers: dict[str, str] = Field(default_factory=dict, description="Secrets only as {env:NAME} or {file:PATH}.")
    body: Any = Field(None, description="A JSON body (templates in its strings).")
    form: dict[str, str] | None = Field(None, description="Form fields (multipart when a file is sent).")
    file: ProbeFile | None = None
    ok: list[int] = Field(default_factory=lambda: [200, 201], description="Statuses that count as success.")
    capture: dict[str, str] = Field(
        default_factory=dict, description="Name -> JSON path ($.a.b[0]) of a value of the response body."
    )
    expect: str | None = Field(None, description="A template the response body must contain (for read-backs).")

    @field_validator("capture")
    @classmethod
    def _capture(cls, value: dict[str, str]) -> dict[str, str]:
        for name, path in value.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"capture name {name!r} is not an identifier")
            if not JSON_PATH.fullmatch(path):
                raise ValueError(f"capture {name}: {path!r} is not a JSON path like $.id or $.data[0].id")
        return value

    @model_validator(mode="after")
    def _secrets_in_headers_only(self) -> ProbeRequest:
        for where, value in (("path", self.path), ("body", self.body), ("form", self.form), ("expect", self.expect)):
            if found := _secret_placeholders(value):
                raise ValueError(f"{found[0]} in {where}: secrets may appear in headers only")
        if self.body is not None and (self.form is not None or self.file is not None):
            raise ValueError("give a JSON body or form/file, not both")
        return self


class UploadProbe(ProbeRequest):
    """A write carrying media. ``every``: every K-th write is an upload (the drill's --image-every
    overrides it). ``read``: the request proving on B that the media itself is there."""

    every: int = Field(20, ge=0)
    read: ProbeRequest | None = None

    @model_validator(mode="after")
    def _has_file(self) -> UploadProbe:
        if self.file is None:
            raise ValueError("an upload probe sends a file: give file:")
        return self


class Probes(_Strict):
    """How to write to the app and prove on the destination that a write exists."""

    setup: list[ProbeRequest] = Field(
        default_factory=list, description="One-time requests before the writes (create an account, get a token)."
    )
    write: ProbeRequest
    upload: UploadProbe | None = None
    read: ProbeRequest = Field(description="Proves a write exists; uses the write's captures ({id}).")
    read_setup: list[ProbeRequest] = Field(
        default_factory=list,
        description="Requests against the destination before the read-backs (e.g. log in again for a token).",
    )
    timeout_seconds: float = Field(5.0, gt=0, le=120)

    @model_validator(mode="after")
    def _write_has_id(self) -> Probes:
        if "id" not in self.write.capture:
            raise ValueError("write.capture must take the created object's id (e.g. capture: {id: $.id})")
        return self


class HttpCheck(_Strict):
    """A path that must answer with one of ``status`` (sent with the service's Host header)."""

    path: UrlPath
    status: list[int] = Field(default_factory=lambda: [200])


class Readiness(HttpCheck):
    """When a started process counts as ready: this path answers (not merely its port opening)."""

    timeout_seconds: float = Field(30.0, gt=0, le=3600)
