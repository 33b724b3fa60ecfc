"""Send one probe request through a target's front and judge the answer."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import httpx

from migrate.probes.template import json_path, render, render_string
from migrate.spec.probes import ProbeRequest


def unique_png(seed: str) -> bytes:
    """A valid 1x1 PNG whose bytes are unique to ``seed`` (a tEXt chunk): no two uploads dedupe."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", b"seed\x00" + seed.encode())
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x80\x00"))
        + chunk(b"IEND", b"")
    )


@dataclass
class Outcome:
    ok: bool
    status: int | None = None
    error: str | None = None
    captured: dict[str, Any] = field(default_factory=dict)


def send(client: httpx.Client, request: ProbeRequest, values: dict[str, Any]) -> Outcome:
    """Send ``request`` rendered with ``values``. ok: an expected status, every capture found and
    the expected text in the body. Transport errors are outcomes, not exceptions (the target
    dying is what a drill is about)."""
    path = str(render_string(request.path, values))
    headers = {k: str(render_string(v, values, secrets=True)) for k, v in request.headers.items()}
    kwargs: dict[str, Any] = {"headers": headers}
    if request.body is not None:
        kwargs["json"] = render(request.body, values)
    if request.form is not None:
        kwargs["data"] = {k: str(render(v, values)) for k, v in request.form.items()}
    if request.file is not None:
        content = unique_png(str(values.get("token", values.get("seq", ""))))
        name = str(render_string(request.file.filename, values))
        if request.file.field:
            kwargs["files"] = {request.file.field: (name, content, request.file.content_type)}
        else:
            kwargs["content"] = content
            headers.setdefault("Content-Type", request.file.content_type)
    try:
        response = client.request(request.method, path, **kwargs)
    except httpx.HTTPError as exc:
        return Outcome(False, error=type(exc).__name__)
    if response.status_code not in request.ok:
        return Outcome(False, response.status_code, f"HTTP {response.status_code}")
    captured: dict[str, Any] = {}
    if request.capture:
        try:
            document = response.json()
            captured = {name: json_path(document, path) for name, path in request.capture.items()}
        except ValueError:
            return Outcome(False, response.status_code, "response is not JSON")
        except KeyError as exc:
            return Outcome(False, response.status_code, f"no {exc.args[0]} in the response")
    if request.expect is not None and str(render_string(request.expect, values)) not in response.text:
        return Outcome(False, response.status_code, "expected text not in the response")
    return Outcome(True, response.status_code, captured=captured)


def client_for(base_url: str, host: str | None, timeout: float, connections: int = 16) -> httpx.Client:
    """A client for a target's front, sending the service's Host header (name-based routing)."""
    return httpx.Client(
        base_url=base_url,
        headers={"Host": host} if host else {},
        timeout=timeout,
        limits=httpx.Limits(max_connections=connections),
        trust_env=False,
    )
