"""Pulumi dynamic resources of the vps stack: remote scripts over SSH, generated secrets.

They replace pulumi-command and pulumi-random, whose plugins cannot be downloaded on a
machine cut off from GitHub: these run in the engine's own Python, so the same code path
serves the tests, CI and users.

``RemoteScript`` keeps Pulumi's resource model: ``create`` runs the (idempotent) script,
``diff`` compares the script and the connection with the state, and runs the resource's
read-only ``probe`` (are its containers running?), so an unchanged ``up`` runs nothing
while one after ``chaos terminate`` starts the service again; ``update`` re-runs the
script; ``delete`` runs the teardown script. The host
key is pinned: the one given in the spec, or the one seen at create (trust on first use)
recorded in state and enforced on every later update and delete.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

from providers.local.dynamic.base import UNKNOWN, clean_errors, inputs_of
from providers.local.dynamic.resource import DynamicResource
from providers.vps.ssh import Endpoint, Session, SshError, parse_host_key

SCRIPT_SECRETS = ("private_key", "script", "delete_script")


def _endpoint(props: dict[str, Any], recorded: str | None) -> Endpoint:
    pinned = props.get("host_key") or recorded
    return Endpoint(
        host=str(props["host"]),
        port=int(props["port"]),
        user=str(props["user"]),
        private_key=str(props["private_key"]),
        host_key=pinned or None,
    )


def _digest(text: str | None) -> str:
    return hashlib.sha256((text or "").encode()).hexdigest()


class RemoteScriptProvider(ResourceProvider):
    """Scripts fed on stdin to ``sh -es`` on one host; the teardown script on delete."""

    serialize_as_secret_always = False
    replace_on: ClassVar[tuple[str, ...]] = ("host", "port")
    update_on: ClassVar[tuple[str, ...]] = ("user", "host_key", "script", "delete_script", "probe", "triggers")

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [
            key
            for key in (*self.replace_on, *self.update_on)
            if news.get(key) == UNKNOWN or (olds.get(key) or None) != (news.get(key) or None)
        ]
        if not changed and olds.get("probe") and not self._alive(olds):
            changed = ["running"]
        replaces = [key for key in changed if key in self.replace_on]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)

    @clean_errors
    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = inputs_of(props)
        seen = self._run(inputs, None, inputs["script"], "create")
        return CreateResult(
            f"{inputs['host']}:{inputs['port']}:{_digest(inputs['script'])[:12]}", self._outs(inputs, seen)
        )

    @clean_errors
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = inputs_of(news)
        seen = self._run(inputs, olds.get("host_key_seen"), inputs["script"], "update")
        return UpdateResult(self._outs(inputs, seen))

    @clean_errors
    def delete(self, _id: str, props: dict[str, Any]) -> None:
        teardown = props.get("delete_script")
        if teardown:
            self._run(props, props.get("host_key_seen"), teardown, "delete")

    @staticmethod
    def _alive(olds: dict[str, Any]) -> bool:
        """The probe exits 0 on the host; an unreachable host counts as not alive (the update
        then fails with the one-line SSH error)."""
        try:
            with Session(_endpoint(olds, olds.get("host_key_seen"))) as session:
                return session.run_script(str(olds["probe"])).status == 0
        except SshError:
            return False

    @staticmethod
    def _outs(inputs: dict[str, Any], seen: str) -> dict[str, Any]:
        return {**inputs, "host_key_seen": seen, "script_sha256": _digest(inputs["script"])}

    @staticmethod
    def _run(props: dict[str, Any], recorded: str | None, script: str, what: str) -> str:
        if props.get("host_key"):
            parse_host_key(str(props["host_key"]))  # a malformed pin is an error, not first use
        with Session(_endpoint(props, recorded)) as session:
            session.check(script, f"{what} script")
            return session.host_key


class RemoteScript(DynamicResource, module="vps", name="RemoteScript"):
    """An idempotent script run as root on an SSH host; ``delete_script`` undoes it; ``probe``
    (read-only, exit 0 = as deployed) is checked by every diff."""

    provider_type = RemoteScriptProvider
    secret_outputs = SCRIPT_SECRETS

    host_key_seen: pulumi.Output[str]
    script_sha256: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        host: str,
        port: int,
        user: str,
        private_key: pulumi.Input[str],
        host_key: str | None,
        script: pulumi.Input[str],
        delete_script: str | None = None,
        probe: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "host": host,
            "port": port,
            "user": user,
            "private_key": pulumi.Output.secret(private_key),
            "host_key": host_key,
            "script": pulumi.Output.secret(script),
            "delete_script": delete_script,
            "probe": probe,
        }
        super().__init__(name, props, opts)


class GeneratedSecretProvider(ResourceProvider):
    """A random secret made once and kept in the (encrypted) state: stable across ups."""

    serialize_as_secret_always = False

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = olds.get("length") != news.get("length")
        return DiffResult(changes=changed, replaces=["length"] if changed else [], delete_before_replace=True)

    @clean_errors
    def create(self, props: dict[str, Any]) -> CreateResult:
        length = int(props["length"])
        alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        value = "".join(secrets.choice(alphabet) for _ in range(length))
        return CreateResult(secrets.token_hex(8), {"length": length, "result": value})


class GeneratedSecret(DynamicResource, module="vps", name="GeneratedSecret"):
    provider_type = GeneratedSecretProvider
    secret_outputs = ("result",)
    result: pulumi.Output[str]

    def __init__(self, name: str, *, length: int = 32, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, {"length": length}, opts)
