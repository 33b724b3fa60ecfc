"""A container deployed over SSH by the real engine into dockerd inside the host's namespace.

The image is built locally (busybox-static → ``docker import``; no registry can be
reached), cached under ~/.cache/migrate. The env file is 0600 and reaches the host only
on the SSH channel's stdin; what Docker then shows in ``docker inspect`` is asserted.
"""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pulumi
import pytest

from providers.vps.dynamic import GeneratedSecret, RemoteScript
from tests.vps.sshhost import HostDocker, SshTestHost
from tests.vps.test_remote_script import _changes, _stack

pytestmark = pytest.mark.slow
CACHE = Path.home() / ".cache" / "migrate" / "test-images"


@pytest.fixture
def docker_host(ssh_host: SshTestHost) -> Iterator[tuple[SshTestHost, HostDocker]]:
    docker = HostDocker(ssh_host).start()
    try:
        yield ssh_host, docker
    finally:
        docker.close()


def _program(host: SshTestHost, docker: HostDocker, image: str, replicas: int) -> Callable[[], None]:
    base = host.directory / "srv"

    def program() -> None:
        token = GeneratedSecret("token", length=20)
        parts: list[pulumi.Input[str]] = [
            f"umask 077\nmkdir -p {base}\nchmod 700 {base}\n",
            f"cat > {base}/web.env <<'EOF_M'\nAPP_TOKEN=",
            token.result,
            "\nEOF_M\n",
        ]
        names = []
        prune = (
            "docker ps -a --filter label=test.role=web --format '{{.Names}}' | "
            "grep -vxF {keep} | xargs -r docker rm -f >/dev/null\n"
        )
        for replica in range(replicas):
            name = f"svc-web-{replica}"
            names.append(name)
            parts.append(
                f"docker rm -f {name} >/dev/null 2>&1 || true\n"
                f"docker run -d --name {name} --label test.role=web --restart unless-stopped --env-file {base}/web.env "
                f"-p {8080 + replica}:80 {image} sh -c 'echo ok > /www/health; httpd -f -p 80 -h /www'\n"
                # health-wait: the replica answers before the resource is done
                f"for i in $(seq 100); do curl -fsS http://{host.address}:{8080 + replica}/health "
                ">/dev/null 2>&1 && break; sleep 0.1; done\n"
                f"curl -fsS http://{host.address}:{8080 + replica}/health >/dev/null\n"
            )
        # fewer replicas than before: the extra containers go
        parts.append(prune.replace("{keep}", " ".join(f"-e {n}" for n in names)))
        RemoteScript(
            "web",
            host=host.address,
            port=22,
            user=host.user,
            private_key=host.private_key,
            host_key=host.host_key,
            script=pulumi.Output.concat(*parts),
            delete_script=(
                f"docker ps -aq --filter label=test.role=web | xargs -r docker rm -f >/dev/null\nrm -rf {base}\n"
            ),
        )
        pulumi.export("token", token.result)

    return program


def test_containers_up_twice_and_destroy(docker_host: tuple[SshTestHost, HostDocker], tmp_path: Path) -> None:
    host, docker = docker_host
    image = docker.import_busybox(CACHE)
    stack = _stack(tmp_path, _program(host, docker, image, replicas=2))
    first = stack.up(on_output=lambda _: None)
    assert _changes(first) == {"create": 3}
    for port in (8080, 8081):  # reached from this machine over the namespace's address
        assert httpx.get(f"http://{host.address}:{port}/health", timeout=5).text == "ok\n"
    env_file = host.directory / "srv" / "web.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    token = first.outputs["token"].value

    # What reaches `docker inspect`: the env file's values are the container's Config.Env
    # (root or the docker group see them); nothing is on the container's command line.
    inspect = json.loads(docker.docker("inspect", "svc-web-0").stdout)[0]
    assert f"APP_TOKEN={token}" in inspect["Config"]["Env"]
    assert token not in json.dumps(inspect["Config"]["Cmd"]) and token not in json.dumps(inspect["Args"])
    started = inspect["State"]["StartedAt"]

    second = stack.up(on_output=lambda _: None)
    assert _changes(second) == {}
    again = json.loads(docker.docker("inspect", "svc-web-0").stdout)[0]
    assert again["State"]["StartedAt"] == started  # not restarted

    stack.workspace.program = _program(host, docker, image, replicas=1)
    assert _changes(stack.up(on_output=lambda _: None)) == {"update": 1}
    assert docker.docker("ps", "-a", "--format", "{{.Names}}").stdout.split() == ["svc-web-0"]

    stack.destroy(on_output=lambda _: None)
    assert docker.docker("ps", "-aq").stdout.strip() == ""
    assert not env_file.parent.exists()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://{host.address}:8080/health", timeout=0.5)
        except httpx.HTTPError:
            break
        time.sleep(0.2)
    else:
        pytest.fail("a container still answers after destroy")
