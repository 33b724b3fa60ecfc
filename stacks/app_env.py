"""The spec's env references (``{db.host}``, ``{bucket.media}``…) as Pulumi outputs, for every stack."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from migrate.spec import appfiles, envrefs


def _expander(template: str) -> Any:
    return lambda values: envrefs.expand(template, values)


def target_parts(
    *,
    domain: str,
    tls: bool = False,
    database_url: pulumi.Input[str] | None = None,
    s3_endpoint: pulumi.Input[str] | None = None,
    s3_region: str | None = None,
    s3_buckets: Mapping[str, pulumi.Input[str]] | None = None,
    s3_access_key: pulumi.Input[str] | None = None,
    s3_secret_key: pulumi.Input[str] | None = None,
    redis_url: pulumi.Input[str] | None = None,
) -> pulumi.Output[dict[str, str]]:
    """Every reference's value on this target (``db.host`` -> ...), once the outputs are known."""
    links = {
        k: v
        for k, v in {
            "database_url": database_url,
            "s3_endpoint": s3_endpoint,
            "s3_access_key": s3_access_key,
            "s3_secret_key": s3_secret_key,
            "redis_url": redis_url,
        }.items()
        if v is not None
    }
    buckets = dict(s3_buckets or {})

    def build(args: list[Any]) -> dict[str, str]:
        resolved, real_buckets = args
        return envrefs.parts(domain=domain, tls=tls, s3_region=s3_region, s3_buckets=real_buckets, **resolved)

    return pulumi.Output.all(pulumi.Output.all(**links), pulumi.Output.all(**buckets)).apply(build)


def computed_env(env: Mapping[str, str], **links: Any) -> dict[str, Any]:
    """``env`` with every value that references the target's outputs computed from them; a value
    built from a secret part (a password, a key, a URL with credentials) stays a secret.
    ``links``: the target's parts, as ``target_parts`` takes them."""
    if not any(envrefs.refs(value) for value in env.values()):
        return dict(env)
    values = target_parts(**links)
    computed: dict[str, Any] = {}
    for key, value in env.items():
        if not envrefs.refs(value):
            computed[key] = value
            continue
        output = values.apply(_expander(value))
        computed[key] = pulumi.Output.secret(output) if envrefs.is_secret(value) else output
    return computed


def computed_files(
    files: Mapping[str, str],
    spec_secrets: Mapping[str, pulumi.Input[str]],
    replicas: list[tuple[str, int | None, str]],
    **links: Any,
) -> pulumi.Output[list[dict[str, str]]] | None:
    """Each replica's rendered config files (``replicas``: host, port, files directory), as
    one secret output; None when the process has none."""
    if not files:
        return None
    values = target_parts(**links)

    def render(args: list[Any]) -> list[dict[str, str]]:
        parts, secret_values = args
        return appfiles.render_all(files, parts, secret_values, replicas)

    return pulumi.Output.secret(pulumi.Output.all(values, pulumi.Output.all(**dict(spec_secrets))).apply(render))


def restart_generation() -> str:
    """The stack's restart generation (bumped by migrate after a promotion): a process marked
    ``restart_after_promotion`` takes it as an input, so a new value restarts it, as a changed
    pod-template annotation restarts a Kubernetes deployment."""
    from providers.hosting import RESTART_GENERATION_KEY

    namespace, key = RESTART_GENERATION_KEY.split(":")
    return pulumi.Config(namespace).get(key) or ""
