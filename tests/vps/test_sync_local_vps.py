"""chirp's data moved local-a → vps and back with ``migrate data sync``, then ``migrate failover``
local-a → vps and back again, each proven through chirp's API.

local-a is the local sandbox on a private loopback address (tests/failover/private_sandbox.py);
the vps target is an SSH host in its own network namespace running chirp in containers, whose
Postgres and Redis admit only the app hosts (DOCKER-USER). ``data sync`` reaches them through
the adapter's SSH tunnel (``VpsAdapter.data_access``); the object store is reached at the
storage host's address, as the apps reach it. A post with an image written through chirp's
API on one side must be readable, the image byte for byte, through chirp's API on the other,
each way. Then a third post on local-a and the whole failover to the vps (DNS swung at both
sandbox nameservers): all three posts readable there; a fourth post on the vps and the
failover back to local-a: all four readable on local-a. Both targets are destroyed and nothing
of either is left.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from tests.failover.private_sandbox import NOTHING_LEFT, PrivateSandbox, private_sandbox
from tests.vps.chirp_target import vps_target, wait_healthy, with_images
from tests.vps.sshhost import HostDocker, SshTestHost

pytestmark = pytest.mark.slow
VPS = "vps-t"


@pytest.fixture
def sandbox() -> Iterator[PrivateSandbox]:
    box = private_sandbox("migrate-vps-sync-")
    try:
        yield box
    finally:
        box.cli("destroy", "--target", VPS, "--yes", timeout=300)
        box.clean_up()


def _ok(box: PrivateSandbox, *args: str) -> dict[str, Any]:
    result = box.cli(*args, "--json")
    assert result.returncode == 0, f"{args}: exit {result.returncode}\n{result.stderr[-3000:]}"
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _front(up: dict[str, Any]) -> httpx.Client:
    parts = urlsplit(up["outputs"]["health_url"])
    return httpx.Client(base_url=f"{parts.scheme}://{parts.netloc}", headers={"Host": "chirp.test"}, timeout=15)


def _post_with_image(api: httpx.Client, user: str) -> tuple[int, str, str, bytes]:
    """A post with a PNG through chirp's API: (id, its text's token, the media key, the image)."""
    token = secrets.token_hex(8)
    image = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(300_000)
    created = api.post(
        "/posts",
        data={"user": user, "text": f"moving day {token}"},
        files={"image": (f"{token}.png", image, "image/png")},
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"]), token, str(created.json()["media_key"]), image


def _readable(api: httpx.Client, post_id: int, token: str, key: str, image: bytes) -> None:
    post = api.get(f"/posts/{post_id}")
    assert post.status_code == 200 and token in post.text, post.text
    media = api.get(f"/media/{key}")
    assert media.status_code == 200, media.text[:300]
    assert hashlib.sha256(media.content).hexdigest() == hashlib.sha256(image).hexdigest()


def _synced(box: PrivateSandbox, source: str, dest: str) -> dict[str, Any]:
    moved = _ok(box, "data", "sync", "--from", source, "--to", dest)
    assert moved["ok"] and moved["verify"]["ok"], moved["verify"]
    assert moved["postgres"] is not None and moved["media"], moved
    return moved


def test_data_sync_local_to_vps_and_back_then_failover(
    chirp_host: tuple[SshTestHost, HostDocker, dict[str, str]], sandbox: PrivateSandbox
) -> None:
    host, docker, tags = chirp_host
    document = yaml.safe_load(sandbox.spec.read_text())
    document["targets"][VPS] = vps_target(host, tags)
    with_images(document, tags)
    sandbox.spec.write_text(yaml.safe_dump(document, sort_keys=False))

    local = _front(_ok(sandbox, "up", "--to", "local-a"))
    vps_up = _ok(sandbox, "up", "--to", VPS)
    vps = _front(vps_up)
    wait_healthy(str(vps.base_url).rstrip("/") + "/healthz", docker)
    # The machine running migrate cannot reach the vps target's Postgres itself: only the tunnel can.
    with pytest.raises(OSError):
        socket.create_connection((host.address, 5432), timeout=2).close()

    assert local.post("/users", json={"name": "ada"}).status_code == 201
    first = _post_with_image(local, "ada")

    _synced(sandbox, "local-a", VPS)
    _readable(vps, *first)

    second = _post_with_image(vps, "ada")  # written on the vps after the move
    _synced(sandbox, VPS, "local-a")
    _readable(local, *second)
    _readable(local, *first)

    # Then the whole failover local-a → vps (a planned move: local-a still answers, so its data
    # step copies through the tunnel), DNS swung and proven at both sandbox nameservers.
    third = _post_with_image(local, "ada")
    _ok(sandbox, "dns", "sandbox", "up")
    _ok(sandbox, "dns", "swing", "--to", "local-a")
    report = _ok(sandbox, "failover", "--from", "local-a", "--to", VPS)
    assert report["status"] == "ok", report
    for post in (first, second, third):
        _readable(vps, *post)

    # And back: a post written on the vps as the live service, then the failover vps → local-a.
    fourth = _post_with_image(vps, "ada")
    back = _ok(sandbox, "failover", "--from", VPS, "--to", "local-a")
    assert back["status"] == "ok", back
    for post in (first, second, third, fourth):
        _readable(local, *post)
    _ok(sandbox, "dns", "sandbox", "down")

    for target in (VPS, "local-a"):
        destroyed = _ok(sandbox, "destroy", "--target", target, "--yes")
        assert destroyed["ok"], destroyed
    assert docker.docker("ps", "-aq").stdout.strip() == ""
    assert sandbox.leftovers(dns_dirs=False) == NOTHING_LEFT
