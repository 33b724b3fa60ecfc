"""The vps stack's SSH resource, run by the real Pulumi engine against a real sshd.

The host is a network namespace with its own address, sshd inside it and a non-root deploy
user reaching root through ``sudo -n`` (tests/vps/sshhost.py).
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi import automation as auto

from migrate.engine.workspace import engine_env, pulumi_command
from providers.vps.dynamic import GeneratedSecret, RemoteScript
from providers.vps.ssh import Endpoint, Session, SshError
from tests.vps.sshhost import SshTestHost

pytestmark = pytest.mark.slow


def _stack(tmp_path: Path, program: Callable[[], None]) -> auto.Stack:
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    os.environ.setdefault("PULUMI_CONFIG_PASSPHRASE", "test-passphrase")
    env = engine_env(f"file://{state}")
    return auto.create_or_select_stack(
        stack_name="organization/vpstest/t",
        project_name="vpstest",
        program=program,
        opts=auto.LocalWorkspaceOptions(
            work_dir=str(tmp_path),
            env_vars=env,
            secrets_provider="passphrase",
            pulumi_command=pulumi_command(),
            project_settings=auto.ProjectSettings(name="vpstest", runtime="python"),
        ),
    )


def _program(host: SshTestHost, base: Path, *, host_key: str | None, version: str) -> Callable[[], None]:
    def program() -> None:
        secret = GeneratedSecret("token", length=24)
        script = pulumi.Output.concat(
            f"umask 077\nmkdir -p {base}\n",
            f"cat > {base}/app.env <<'EOF_M'\nTOKEN=",
            secret.result,
            f"\nVERSION={version}\nEOF_M\n",
            # a health-wait: the file must be there and root's before the resource is done
            f"for i in $(seq 50); do [ -s {base}/app.env ] && break; sleep 0.1; done\n",
            f"date +%s%N >> {base}/runs\n",
        )
        RemoteScript(
            "app",
            host=host.address,
            port=22,
            user=host.user,
            private_key=host.private_key,
            host_key=host_key,
            script=script,
            delete_script=f"rm -rf {base}\n",
        )
        pulumi.export("token", secret.result)

    return program


def _changes(result: Any) -> dict[str, int]:
    return {k: v for k, v in (result.summary.resource_changes or {}).items() if k != "same"}


def test_up_twice_changes_nothing_and_destroy_removes_it(ssh_host: SshTestHost, tmp_path: Path) -> None:
    base = ssh_host.directory / "srv"  # root-owned, written through sudo by the deploy user
    stack = _stack(tmp_path, _program(ssh_host, base, host_key=ssh_host.host_key, version="1"))
    first = stack.up(on_output=lambda _: None)
    assert _changes(first) == {"create": 3}  # the stack, the secret, the script
    env_file = base / "app.env"
    mode = env_file.stat()
    assert stat.S_IMODE(mode.st_mode) == 0o600 and mode.st_uid == 0
    token = first.outputs["token"].value
    assert first.outputs["token"].secret and len(token) == 24
    assert env_file.read_text() == f"TOKEN={token}\nVERSION=1\n"

    second = stack.up(on_output=lambda _: None)
    assert _changes(second) == {}
    assert len((base / "runs").read_text().split()) == 1  # the script did not run again

    # the state on disk holds the secret, the script and the key only encrypted
    (state_file,) = (tmp_path / "state").rglob("t.json")
    text = state_file.read_text()
    assert "host_key_seen" in text and "app.env" not in text
    assert token not in text and "PRIVATE KEY" not in text

    stack.workspace.program = _program(ssh_host, base, host_key=ssh_host.host_key, version="2")
    third = stack.up(on_output=lambda _: None)
    assert _changes(third) == {"update": 1}
    assert env_file.read_text() == f"TOKEN={token}\nVERSION=2\n"  # the secret is stable

    stack.destroy(on_output=lambda _: None)
    assert not base.exists()


def test_first_use_host_key_is_recorded_then_enforced(ssh_host: SshTestHost, tmp_path: Path) -> None:
    base = ssh_host.directory / "srv"
    stack = _stack(tmp_path, _program(ssh_host, base, host_key=None, version="1"))
    stack.up(on_output=lambda _: None)
    deployment = stack.export_stack().deployment
    assert deployment is not None
    resources = deployment["resources"]
    seen = next(r["outputs"]["host_key_seen"] for r in resources if r["urn"].endswith("::app"))
    assert seen == ssh_host.host_key

    # The host is "rebuilt" with a new host key: an update must refuse to talk to it.
    key = ssh_host.directory / "host_key"
    key.unlink()
    (ssh_host.directory / "host_key.pub").unlink()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    ssh_host.close_sshd_and_restart()
    stack.workspace.program = _program(ssh_host, base, host_key=None, version="2")
    with pytest.raises(auto.CommandError, match="host key changed"):
        stack.up(on_output=lambda _: None)
    assert "VERSION=1" in (base / "app.env").read_text()


def test_wrong_pin_and_wrong_key_are_one_line_errors(ssh_host: SshTestHost) -> None:
    other = ssh_host.directory / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    wrong_pin = " ".join(Path(f"{other}.pub").read_text().split()[:2])
    endpoint = Endpoint(ssh_host.address, 22, ssh_host.user, ssh_host.private_key, wrong_pin)
    with pytest.raises(SshError, match=f"{ssh_host.user}@{ssh_host.address}:22: host key changed"):
        Session(endpoint)
    wrong_key = Endpoint(ssh_host.address, 22, ssh_host.user, other.read_text(), ssh_host.host_key)
    with pytest.raises(SshError, match="refused the private key"):
        Session(wrong_key)
    with Session(Endpoint(ssh_host.address, 22, ssh_host.user, ssh_host.private_key, ssh_host.host_key)) as s:
        assert s.run_script("id -u\n").stdout.strip() == "0"  # sudo -n: root
        failed = s.run_script("echo boom >&2; exit 3\n")
        assert failed.status == 3 and "boom" in failed.stderr
    ssh_host.set_link(False)
    with pytest.raises(SshError, match=f"{ssh_host.address}:22: (cannot connect|SSH failed)"):
        Session(Endpoint(ssh_host.address, 22, ssh_host.user, ssh_host.private_key, ssh_host.host_key))
    ssh_host.set_link(True)


def test_a_malformed_host_key_pin_is_refused_at_load() -> None:
    from pydantic import ValidationError

    from providers.vps.settings import SshHost

    with pytest.raises(ValidationError, match="expected a known_hosts line"):
        SshHost(address="203.0.113.10", host_key="not a key")
    pinned = SshHost(address="203.0.113.10", host_key="[h]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 comment")
    assert pinned.host_key == "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"
