"""chirp on the local sandbox, deployed by the real Pulumi engine through the real CLI.

One deployed stack is shared by the module's tests, which run in order: up, use,
plan, update in place, error paths, termination and recovery, destroy. Each run has
its own MIGRATE_HOME and loopback address, so parallel runs do not clash; teardown
destroys whatever is left and the last test proves nothing is.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from providers.local import layout
from tests.conftest import CHIRP_SPEC, run_cli
from tests.engine.helpers import answers, free_loopback_address, listening_ports, png

pytestmark = pytest.mark.slow
TARGET = "local-a"


@dataclass
class Sandbox:
    base: Path
    spec: Path
    address: str
    env: dict[str, str]

    @property
    def home(self) -> Path:
        return self.base / "home"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def cli(self, *args: str, env: dict[str, str] | None = None) -> Any:
        return run_cli(*args, "-f", str(self.spec), env={**self.env, **(env or {})})

    def cli_json(self, *args: str, expect: int = 0) -> dict[str, Any]:
        result = self.cli(*args, "--json")
        assert result.returncode == expect, f"{args}: exit {result.returncode}\n{result.stderr[-3000:]}"
        document: dict[str, Any] = json.loads(result.stdout)
        return document

    def write_spec(self, **web_changes: Any) -> None:
        document = yaml.safe_load(CHIRP_SPEC.read_text())
        document["targets"] = {TARGET: {"provider": "local", "address": self.address}}
        document["processes"]["web"].update(web_changes.pop("web", {}))
        document["env"].update(web_changes.pop("env", {}))
        self.spec.write_text(yaml.safe_dump(document, sort_keys=False))


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    # Under /tmp with o+x: the postgres user must traverse to its data directory.
    base = Path(tempfile.mkdtemp(prefix="migrate-engine-", dir="/tmp"))
    base.chmod(0o755)
    (base / "chirp").symlink_to(CHIRP_SPEC.parent / "chirp")  # the app's code beside its spec
    env = {"MIGRATE_HOME": str(base / "home"), "CHIRP_SESSION_KEY": secrets.token_urlsafe(24)}
    box = Sandbox(base=base, spec=base / "migrate.yaml", address=free_loopback_address(), env=env)
    box.write_spec()
    yield box
    if (box.home / "sandbox" / TARGET).exists():
        box.cli("destroy", "--target", TARGET, "--yes")
    for pid in layout.recorded_pids(box.home / "sandbox" / TARGET).values():  # last resort
        os.killpg(os.getpgid(pid), 9)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def deployed(box: Sandbox) -> dict[str, Any]:
    return box.cli_json("up", "--to", TARGET)


def _reveal_outputs(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    from migrate.engine.stack_outputs import load_outputs
    from migrate.spec.loader import load_spec

    for key, value in box.env.items():
        monkeypatch.setenv(key, value)
    outputs = load_outputs(load_spec(box.spec), TARGET)
    found = {}
    for key in ("database_url", "s3_access_key", "s3_secret_key", "redis_url"):
        secret = getattr(outputs, key)
        assert secret is not None, key
        found[key] = secret.get_secret_value()
    return found


def test_up_deploys_chirp_through_the_engine(box: Sandbox, deployed: dict[str, Any]) -> None:
    assert deployed["ok"] is True
    assert deployed["changes"] == {"create": 7}  # host, postgres, s3, redis, web, worker, front
    outputs = deployed["outputs"]
    assert outputs["public_addresses"] == [box.address]
    assert outputs["health_url"] == f"http://{box.address}:80/healthz"
    assert outputs["s3_endpoint"] == f"http://{box.address}:9000"
    assert outputs["s3_buckets"] == {"chirp-media": "chirp-media"}
    for key in ("database_url", "s3_access_key", "s3_secret_key", "redis_url"):
        assert outputs[key] == "[secret]"
    assert listening_ports(box.address) == [80, 5432, 6379, 7000, 8001, 8002, 9000]  # 7000: the S3 event listener
    passphrase = box.home / "passphrase"
    assert passphrase.stat().st_mode & 0o777 == 0o600


def _post_image(box: Sandbox, text: str, filename: str, image: bytes) -> Any:
    """Alice posts ``text`` with a PNG through chirp's front; the new post's id."""
    created = httpx.post(
        f"{box.url}/posts",
        data={"user": "alice", "text": text},
        files={"image": (filename, image, "image/png")},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    return created.json()["id"]


def test_chirp_answers_on_the_target_address_and_an_image_round_trips(box: Sandbox, deployed: dict[str, Any]) -> None:
    health = httpx.get(f"{box.url}/healthz", timeout=10)
    assert health.status_code == 200, health.text
    assert health.json()["checks"] == {"database": "ok", "media": "ok", "redis": "ok"}
    assert httpx.post(f"{box.url}/users", json={"name": "alice"}, timeout=10).status_code == 201
    image = png(300, 300)  # ~270 KB through the front's streaming path, both ways
    post_id = _post_image(box, "hello from local-a", "cat.png", image)
    post = httpx.get(f"{box.url}/posts/{post_id}", timeout=10).json()
    assert post["text"] == "hello from local-a"
    media = httpx.get(f"{box.url}/media/{post['media_key']}", timeout=30)
    assert media.status_code == 200
    assert media.content == image


def test_plan_after_up_shows_no_changes(box: Sandbox, deployed: dict[str, Any]) -> None:
    plan = box.cli_json("plan", "--to", TARGET)
    assert plan["has_changes"] is False, plan
    assert set(plan["changes"]) == {"same"}
    assert plan["steps"] == []


def test_secrets_are_encrypted_in_state_and_absent_from_output(
    box: Sandbox, deployed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    revealed = _reveal_outputs(box, monkeypatch)
    assert revealed["database_url"].startswith("postgresql://chirp:")
    state_text = "\n".join(
        path.read_text(errors="replace")
        for path in box.home.rglob("*")
        if path.is_file() and "sandbox" not in path.parts
    )
    printed = json.dumps(deployed)
    for key, value in {**revealed, "CHIRP_SESSION_KEY": box.env["CHIRP_SESSION_KEY"]}.items():
        assert value not in state_text, f"{key} in plain text in the state"
        assert value not in printed, f"{key} printed"


def test_status_reports_the_target_deployed_and_healthy(box: Sandbox, deployed: dict[str, Any]) -> None:
    status = box.cli_json("status")
    (entry,) = [t for t in status["targets"] if t["target"] == TARGET]
    assert entry["deployed"] is True
    assert entry["health"] == "healthy"
    assert entry["outputs"]["public_addresses"] == [box.address]


def test_changing_replicas_and_environment_updates_in_place(box: Sandbox, deployed: dict[str, Any]) -> None:
    box.write_spec(web={"replicas": 3}, env={"CHIRP_LOG_LEVEL": "debug"})
    try:
        updated = box.cli_json("up", "--to", TARGET)
        # The two process kinds (both see the environment) and the front's backend list
        # change in place; nothing is created, replaced or deleted.
        assert updated["changes"] == {"update": 3}, updated
        assert 8003 in listening_ports(box.address)
        assert httpx.get(f"{box.url}/users/alice", timeout=10).status_code == 200  # same database
        assert box.cli_json("plan", "--to", TARGET)["has_changes"] is False
    finally:
        box.write_spec()
    back = box.cli_json("up", "--to", TARGET)
    assert back["changes"] == {"update": 3}
    assert 8003 not in listening_ports(box.address)


def test_env_computed_from_outputs_readiness_and_exec(box: Sandbox, deployed: dict[str, Any]) -> None:
    """The spec's env references reach the app's processes as the target's own values (a secret
    part stays secret), replicas count as up once the readiness path answers, and `migrate exec`
    runs an admin command with the same environment without printing a secret."""
    refs = {
        "APP_DB_HOST": "{db.host}",
        "APP_DB_PORT": "{db.port}",
        "APP_DB_PASSWORD": "{db.password}",
        "APP_MEDIA_BUCKET": "{bucket.chirp-media}",
        "APP_S3_TLS": "{s3.tls}",
        "APP_URL": "{service.url}",
    }
    box.write_spec(web={"ready": {"path": "/healthz", "status": [200], "timeout_seconds": 60}}, env=refs)
    try:
        box.cli_json("up", "--to", TARGET)
        pid = layout.recorded_pids(box.home / "sandbox" / TARGET)["web-0"]
        environ = dict(
            item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item
        )
        password = _reveal_password(box)
        assert environ["APP_DB_HOST"] == box.address and environ["APP_DB_PORT"] == str(layout.POSTGRES_PORT)
        assert environ["APP_DB_PASSWORD"] == password and environ["APP_MEDIA_BUCKET"] == "chirp-media"
        assert environ["APP_S3_TLS"] == "false" and environ["APP_URL"] == "http://chirp.test"
        assert httpx.get(f"{box.url}/healthz", timeout=10).status_code == 200
        code = (
            "import os, hashlib; e = os.environ; "
            "print(e['APP_DB_HOST'], e['APP_MEDIA_BUCKET'], e['MIGRATE_TARGET'], "
            "hashlib.sha256(e['APP_DB_PASSWORD'].encode()).hexdigest(), 'DATABASE_URL' in e)"
        )
        ran = run_cli("-f", str(box.spec), "exec", "--target", TARGET, "--", "python3", "-c", code, env=box.env)
        assert ran.returncode == 0, ran.stderr[-2000:]
        import hashlib

        digest = hashlib.sha256(password.encode()).hexdigest()
        assert ran.stdout.split() == [box.address, "chirp-media", TARGET, digest, "True"]
        assert password not in ran.stdout + ran.stderr
        failing = run_cli("-f", str(box.spec), "exec", "--target", TARGET, "--", "sh", "-c", "exit 7", env=box.env)
        assert failing.returncode == 7
    finally:
        box.write_spec()
    box.cli_json("up", "--to", TARGET)


def test_a_new_restart_generation_restarts_only_the_marked_processes(
    box: Sandbox, deployed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the failover's ``restart`` step does after a promotion: a new restart generation in
    the stack's config, then ``up``; only processes marked restart_after_promotion restart,
    once (the same generation again changes nothing)."""
    from migrate.engine.stack import set_restart_generation
    from migrate.spec.loader import load_spec

    box.write_spec(web={"restart_after_promotion": True})
    try:
        marked = box.cli_json("up", "--to", TARGET)
        assert marked["changes"] == {}, marked  # the flag alone restarts nothing
        before = layout.recorded_pids(box.home / "sandbox" / TARGET)
        for key, value in box.env.items():
            monkeypatch.setenv(key, value)
        assert set_restart_generation(load_spec(box.spec), TARGET, "drill-test-1") is True
        restarted = box.cli_json("up", "--to", TARGET)
        assert restarted["changes"] == {"update": 1}, restarted
        after = layout.recorded_pids(box.home / "sandbox" / TARGET)
        assert after["web-0"] != before["web-0"] and after["worker-0"] == before["worker-0"]
        assert httpx.get(f"{box.url}/healthz", timeout=10).status_code == 200
        assert set_restart_generation(load_spec(box.spec), TARGET, "drill-test-1") is False
        assert box.cli_json("plan", "--to", TARGET)["has_changes"] is False
    finally:
        box.write_spec()
    box.cli_json("up", "--to", TARGET)


def _reveal_password(box: Sandbox) -> str:
    from urllib.parse import unquote, urlsplit

    from migrate.engine.stack_outputs import load_outputs
    from migrate.spec.loader import load_spec

    saved = {k: os.environ.get(k) for k in box.env}
    os.environ.update(box.env)
    try:
        outputs = load_outputs(load_spec(box.spec), TARGET)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert outputs.database_url is not None
    return unquote(urlsplit(outputs.database_url.get_secret_value()).password or "")


def test_a_stale_lock_is_reported_with_the_way_to_clear_it(box: Sandbox, deployed: dict[str, Any]) -> None:
    locks = box.home / "state" / ".pulumi" / "locks" / "organization" / "chirp" / TARGET
    locks.mkdir(parents=True, exist_ok=True)
    (locks / f"{uuid.uuid4()}.json").write_text(
        json.dumps({"pid": 999999, "username": "ops", "hostname": "gone", "timestamp": "2024-01-01T00:00:00Z"})
    )
    result = box.cli("up", "--to", TARGET)
    assert result.returncode == 1
    assert "locked" in result.stderr and f"migrate unlock --target {TARGET}" in result.stderr
    assert "Traceback" not in result.stderr
    box.cli_json("unlock", "--target", TARGET)
    assert list(locks.iterdir()) == []


def test_a_wrong_passphrase_is_one_clear_line(box: Sandbox, deployed: dict[str, Any]) -> None:
    result = box.cli("plan", "--to", TARGET, env={"PULUMI_CONFIG_PASSPHRASE": "not-the-passphrase"})
    assert result.returncode == 2, result.stderr
    assert "passphrase" in result.stderr and "Traceback" not in result.stderr


def test_terminate_kills_everything_at_once_and_up_recovers(box: Sandbox, deployed: dict[str, Any]) -> None:
    image = png(120, 90, seed=7)
    post_id = _post_image(box, "before the kill", "dog.png", image)
    media_key = httpx.get(f"{box.url}/posts/{post_id}", timeout=10).json()["media_key"]
    recorded = layout.recorded_pids(box.home / "sandbox" / TARGET)
    terminated = box.cli_json("chaos", "terminate", "--target", TARGET)
    stopped = {"front", "postgres", "s3", "s3-events", "redis", "web-0", "web-1", "worker-0"}
    assert set(terminated["stopped"]) == stopped
    assert not any(layout.start_time(pid) for pid in recorded.values())
    for port in (80, 5432, 9000, 7000, 6379):
        assert not answers(box.address, port), port
    assert listening_ports(box.address) == []
    # State was not touched: the engine finds the dead processes and restarts them.
    plan = box.cli_json("plan", "--to", TARGET)
    assert plan["has_changes"] is True
    assert set(plan["changes"]) <= {"update", "same"}
    recovered = box.cli_json("up", "--to", TARGET)
    assert set(recovered["changes"]) == {"update"}
    assert httpx.get(f"{box.url}/healthz", timeout=10).status_code == 200
    assert httpx.get(f"{box.url}/users/alice", timeout=10).status_code == 200  # the disk survived
    assert httpx.get(f"{box.url}/media/{media_key}", timeout=30).content == image  # the media too: S3 on disk


def test_destroy_leaves_nothing_behind(box: Sandbox, deployed: dict[str, Any]) -> None:
    recorded = layout.recorded_pids(box.home / "sandbox" / TARGET)
    assert len(recorded) == 8  # with the S3 server's event listener
    destroyed = box.cli_json("destroy", "--target", TARGET)
    assert destroyed["was_deployed"] is True
    assert not any(layout.start_time(pid) for pid in recorded.values())
    assert listening_ports(box.address) == []
    assert not (box.home / "sandbox" / TARGET).exists()
    assert not list((box.home / "state" / ".pulumi" / "stacks").rglob(f"{TARGET}.json"))
    status = box.cli_json("status")
    assert [t["deployed"] for t in status["targets"]] == [False]
    again = box.cli_json("destroy", "--target", TARGET)
    assert again["was_deployed"] is False
