"""``migrate exec --target T -- CMD``: a one-off admin command with the target's outputs in its
environment (the app's own variables, as the spec computes them), never printing a secret."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Annotated

import typer

from migrate.cli.common import DEFAULT_SPEC, JsonOption, Output, SpecOption, load
from migrate.errors import InputError, MigrateError

# The engine's own secrets stay with migrate: the command gets the app's, not the state's.
WITHHELD_PREFIXES = ("PULUMI_",)


def register(app: typer.Typer) -> None:
    app.command(
        "exec",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(exec_command)


def target_environment(spec: object, target: str) -> dict[str, str]:
    """The variables the app's processes get on ``target``, computed from its outputs: the
    conventional ones (DATABASE_URL, S3_*, REDIS_URL), the spec's env (references expanded) and
    its secrets, plus MIGRATE_TARGET."""
    from migrate.engine.stack_outputs import load_outputs
    from migrate.redact import register_secret
    from migrate.spec import envrefs
    from migrate.spec.model import ServiceSpec

    assert isinstance(spec, ServiceSpec)
    out = load_outputs(spec, target)
    values = envrefs.from_outputs(spec, out)
    env: dict[str, str] = {"MIGRATE_TARGET": target, "SERVICE_DOMAIN": spec.service.domain}
    for key, secret in (
        ("DATABASE_URL", out.database_url),
        ("S3_ACCESS_KEY", out.s3_access_key),
        ("S3_SECRET_KEY", out.s3_secret_key),
        ("REDIS_URL", out.redis_url),
    ):
        if secret is not None:
            env[key] = secret.get_secret_value()
            register_secret(env[key])
    if out.s3_endpoint:
        env.update({"S3_ENDPOINT": out.s3_endpoint, "S3_REGION": out.s3_region})
        for name, real in out.s3_buckets.items():
            env["S3_BUCKET_" + name.upper().replace("-", "_")] = real
    for key, template in spec.env.items():
        try:
            env[key] = envrefs.expand(template, values)
        except KeyError as exc:
            raise InputError(f"env.{key}: {exc.args[0]}") from None
        if envrefs.is_secret(template):
            register_secret(env[key])
    for key, ref in spec.secrets.items():
        env[key] = ref.resolve(f"secrets.{key}")
    return env


def exec_command(
    ctx: typer.Context,
    target: Annotated[str, typer.Option("--target", "-t", help="The deployed target whose outputs to use.")],
    spec: SpecOption = DEFAULT_SPEC,
    json_output: JsonOption = False,
) -> None:
    """Run CMD (after --) with the target's outputs in its environment; exits with CMD's code.
    With --json, CMD's output goes to stderr and stdout gets one document with its exit code."""
    out = Output(json_output)
    argv = list(ctx.args)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise InputError("give the command after --: migrate exec --target T -- CMD [ARGS]")
    loaded = load(spec)
    loaded.target(target)
    env = {k: v for k, v in os.environ.items() if not k.startswith(WITHHELD_PREFIXES)}
    env.update(target_environment(loaded, target))
    try:
        completed = subprocess.run(argv, env=env, check=False, stdout=sys.stderr if json_output else None)
    except FileNotFoundError:
        raise InputError(f"command not found: {argv[0]}") from None
    except OSError as exc:
        raise MigrateError(f"cannot run {argv[0]}: {exc.strerror}") from None
    out.emit({"ok": completed.returncode == 0, "target": target, "exit_code": completed.returncode})
    raise typer.Exit(completed.returncode)
