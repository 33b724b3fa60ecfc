"""What every cloud stack shares: names, the app's environment, secrets, outputs.

Only Pulumi programs import this module (it imports pulumi at the top), so the
CLI stays fast. The environment the app receives and the outputs a stack exports
are built here once, so every provider gives the app the same variables and every
later step (data moving, DNS, drills) the same ``TargetOutputs`` fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pulumi

from migrate.errors import InputError
from migrate.spec import envrefs
from providers.naming import slug

if TYPE_CHECKING:
    from migrate.spec.model import Process, ServiceSpec


class StackPart(pulumi.ComponentResource):
    """One concern of a target's stack (network, database, cache, media, app, front) as a
    ComponentResource: its resources are its children (created with ``self.child``), so a
    stack reads by concern in ``pulumi stack`` and each part takes only what it needs.
    Subclasses set ``adapter``; the type is ``migrate:<adapter>:<ClassName>``."""

    adapter: str = ""

    def __init__(self, name: str, opts: pulumi.ResourceOptions) -> None:
        super().__init__(f"migrate:{self.adapter}:{type(self).__name__}", name, None, opts)
        self.child = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(parent=self))
        # For a resource the stack declared at its root before this part existed: the alias
        # keeps its old URN, so an existing stack's next ``up`` moves it instead of replacing it.
        self.moved = pulumi.ResourceOptions.merge(
            self.child, pulumi.ResourceOptions(aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)])
        )


class TargetPart(StackPart):
    """A part of a target's stack built from its ``Build``: named after the target, made with
    the target's options (its provider)."""

    def __init__(self, b: Build[Any]) -> None:
        super().__init__(b.name, b.opts)


S = TypeVar("S")


@dataclass(frozen=True)
class Build(Generic[S]):
    """The target a stack builds, as each of its parts sees it: the spec, the target and its
    settings, and the options (the provider) every part is made with."""

    spec: ServiceSpec
    target: str
    settings: S
    opts: pulumi.ResourceOptions = field(default_factory=pulumi.ResourceOptions)

    @property
    def name(self) -> str:
        return base_name(self.spec, self.target)

    @property
    def labels(self) -> dict[str, str]:
        return labels(self.spec, self.target)


# Spec sizes -> a rough (vCPU, GiB memory) every adapter maps to its own instance types.
SIZES = ("small", "medium", "large")


def base_name(spec: ServiceSpec, target: str, limit: int = 40) -> str:
    """``social-aws-prod``: prefix of every resource the target owns."""
    return slug(f"{spec.service.name}-{target}", limit)


def bucket_name(spec: ServiceSpec, target: str, bucket: str) -> str:
    """The provider's bucket name for a spec bucket: unique per target, valid in S3."""
    return slug(f"{bucket}-{target}", 63)


def labels(spec: ServiceSpec, target: str) -> dict[str, str]:
    """Tags/labels put on everything, so an operator can find a target's resources."""
    return {"app": spec.service.name, "migrate-target": target, "managed-by": "migrate"}


def require_images(spec: ServiceSpec, adapter: str) -> None:
    """Container adapters run images; a process with only a command cannot run there."""
    for name, process in spec.processes.items():
        if not process.image:
            raise InputError(
                f"processes.{name}: the {adapter} adapter runs containers; give an image "
                "(a command alone runs only on the local adapter)"
            )


def container_command(process: Process) -> list[str] | None:
    """The process's command as an argv, with the listen placeholders filled for containers."""
    if not process.command:
        return None
    import shlex

    port = str(process.port) if process.port else ""
    line = process.command.replace("{host}", "0.0.0.0").replace("{port}", port).replace("{python}", "python")
    return shlex.split(line)


def public_process(spec: ServiceSpec) -> tuple[str, Process]:
    try:
        return spec.public_process()
    except LookupError:
        raise InputError("processes: no process is public; mark one with public: true") from None


def resolve_spec_secrets(spec: ServiceSpec) -> dict[str, pulumi.Output[str]]:
    """The spec's secrets, read now from their references and held only as Pulumi secrets."""
    return {key: pulumi.Output.secret(ref.resolve(f"secrets.{key}")) for key, ref in spec.secrets.items()}


def secret_input(value: Any) -> pulumi.Output[Any]:
    return pulumi.Output.secret(value)


@dataclass
class ServiceLinks:
    """Where the app finds its backing services on this target."""

    database_url: pulumi.Input[str] | None = None
    s3_endpoint: pulumi.Input[str] | None = None
    s3_region: str = "us-east-1"
    s3_buckets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    s3_access_key: pulumi.Input[str] | None = None
    s3_secret_key: pulumi.Input[str] | None = None
    redis_url: pulumi.Input[str] | None = None
    tls: bool = False  # the service is served over HTTPS ({service.url}, {service.tls})

    def set_media(
        self,
        endpoint: pulumi.Input[str],
        buckets: Mapping[str, pulumi.Input[str]],
        access_key: pulumi.Input[str],
        secret_key: pulumi.Input[str],
    ) -> None:
        """The object store every stack's media part declares (its keys kept secret)."""
        self.s3_endpoint = endpoint
        self.s3_buckets = buckets
        self.s3_access_key = pulumi.Output.secret(access_key)
        self.s3_secret_key = pulumi.Output.secret(secret_key)


@dataclass
class AppEnvironment:
    """A process's environment split in two: plain values and values that are secrets."""

    plain: dict[str, pulumi.Input[str]]
    secret: dict[str, pulumi.Output[str]]

    def merged(self) -> dict[str, pulumi.Input[str]]:
        return {**self.plain, **self.secret}


def app_environment(
    spec: ServiceSpec,
    process_name: str,
    links: ServiceLinks,
    spec_secrets: Mapping[str, pulumi.Output[str]],
) -> AppEnvironment:
    """The conventional variables (DATABASE_URL, S3_*, REDIS_URL), the spec's env (its references to
    the target's outputs computed: ``{db.host}``…) and its secrets."""
    from stacks.app_env import computed_env

    process = spec.processes[process_name]
    plain: dict[str, pulumi.Input[str]] = {}
    computed = computed_env(
        {**spec.env, **process.env},
        domain=spec.service.domain,
        tls=links.tls,
        database_url=links.database_url,
        s3_endpoint=links.s3_endpoint,
        s3_region=links.s3_region,
        s3_buckets=links.s3_buckets,
        s3_access_key=links.s3_access_key,
        s3_secret_key=links.s3_secret_key,
        redis_url=links.redis_url,
    )
    if process.port is not None:
        plain["PORT"] = str(process.port)
    secret: dict[str, pulumi.Output[str]] = {}
    if links.s3_endpoint is not None:
        plain["S3_ENDPOINT"] = links.s3_endpoint
        plain["S3_REGION"] = links.s3_region
    if links.s3_buckets:
        first = next(iter(links.s3_buckets.values()))
        plain["S3_BUCKET"] = first
        for spec_bucket, real in links.s3_buckets.items():
            plain["S3_BUCKET_" + spec_bucket.upper().replace("-", "_")] = real
    for key, value in (
        ("DATABASE_URL", links.database_url),
        ("S3_ACCESS_KEY", links.s3_access_key),
        ("S3_SECRET_KEY", links.s3_secret_key),
        ("REDIS_URL", links.redis_url),
    ):
        if value is not None:
            secret[key] = pulumi.Output.secret(value)
    for key, value in spec_secrets.items():
        secret[key] = pulumi.Output.secret(value)
    for key, value in computed.items():
        (secret if envrefs.is_secret(str(spec.env.get(key, process.env.get(key, "")))) else plain)[key] = value
    return AppEnvironment(plain=plain, secret=secret)


def postgres_url(
    user: pulumi.Input[str],
    password: pulumi.Input[str],
    host: pulumi.Input[str],
    port: pulumi.Input[int | str],
    database: pulumi.Input[str],
    sslmode: str | None = None,
) -> pulumi.Output[str]:
    """A libpq URL; always a secret because it carries the password."""
    from urllib.parse import quote

    def build(args: list[Any]) -> str:
        u, pw, h, p, db = args
        url = f"postgresql://{quote(str(u), safe='')}:{quote(str(pw), safe='')}@{h}:{p}/{db}"
        return url + (f"?sslmode={sslmode}" if sslmode else "")

    return pulumi.Output.secret(pulumi.Output.all(user, password, host, port, database).apply(build))


def redis_url(
    password: pulumi.Input[str] | None,
    host: pulumi.Input[str],
    port: pulumi.Input[int | str],
    tls: bool = False,
    user: str = "",
) -> pulumi.Output[str]:
    from urllib.parse import quote

    scheme = "rediss" if tls else "redis"

    def build(args: list[Any]) -> str:
        pw, h, p = args
        auth = f"{quote(user, safe='')}:{quote(str(pw), safe='')}@" if pw else ""
        return f"{scheme}://{auth}{h}:{p}/0"

    return pulumi.Output.secret(pulumi.Output.all(password, host, port).apply(build))


def health_url(host: pulumi.Input[str], port: int, path: str, scheme: str = "http") -> pulumi.Output[str]:
    default = {"http": 80, "https": 443}[scheme]
    suffix = "" if port == default else f":{port}"
    return pulumi.Output.from_input(host).apply(lambda h: f"{scheme}://{h}{suffix}{path}")


def random_password(name: str, length: int = 32, opts: pulumi.ResourceOptions | None = None) -> pulumi.Output[str]:
    """A password kept in the stack's state (stable across runs), never printed."""
    import pulumi_random

    password = pulumi_random.RandomPassword(name, length=length, special=False, opts=opts)
    return pulumi.Output.secret(password.result)


def public_read_policy(bucket_arn: str) -> str:
    """An S3 bucket policy letting anyone GET the bucket's objects (public media)."""
    import json

    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{bucket_arn}/*"}
            ],
        }
    )


def export_outputs(
    *,
    target: str,
    provider: str,
    links: ServiceLinks,
    public_addresses: pulumi.Input[list[str]],
    health_url: pulumi.Input[str],
    public_hostname: pulumi.Input[str | None] = None,
    http_port: int = 80,
) -> None:
    """Export exactly the ``TargetOutputs`` fields; the secret ones as Pulumi secrets.

    The backing-service fields are the ``links`` the app itself was given, so what later
    steps read is what the app uses.
    """

    def secret(value: pulumi.Input[str] | None) -> pulumi.Output[str] | None:
        return None if value is None else pulumi.Output.secret(value)

    pulumi.export("target", target)
    pulumi.export("provider", provider)
    pulumi.export("public_addresses", public_addresses)
    pulumi.export("public_hostname", public_hostname)
    pulumi.export("http_port", http_port)
    pulumi.export("health_url", health_url)
    pulumi.export("database_url", secret(links.database_url))
    pulumi.export("s3_endpoint", links.s3_endpoint)
    pulumi.export("s3_region", links.s3_region)
    pulumi.export("s3_buckets", dict(links.s3_buckets))
    pulumi.export("s3_access_key", secret(links.s3_access_key))
    pulumi.export("s3_secret_key", secret(links.s3_secret_key))
    pulumi.export("redis_url", secret(links.redis_url))


def docker_run_script(
    service: str,
    process_name: str,
    process: Process,
    env_file: str,
) -> str:
    """Shell lines that (re)start one container of a process under Docker, restarted on boot."""
    import shlex

    name = f"{service}-{process_name}"
    ports = f"-p {process.port}:{process.port} " if process.port else ""
    argv = container_command(process) or []
    command = " ".join(shlex.quote(a) for a in argv)
    assert process.image is not None
    return (
        f"docker rm -f {name} >/dev/null 2>&1 || true\n"
        f"docker run -d --name {name} --restart unless-stopped --env-file {env_file} "
        f"{ports}{shlex.quote(process.image)} {command}".rstrip()
        + "\n"
    )


def env_file_text(values: Mapping[str, str]) -> str:
    """A Docker --env-file body. Docker reads values literally, one per line."""
    for key, value in values.items():
        if "\n" in value:
            raise InputError(f"env {key}: values with newlines cannot go into a container env file")
    return "".join(f"{key}={value}\n" for key, value in values.items())


def resolved_env(env: AppEnvironment) -> pulumi.Output[dict[str, str]]:
    """All of a process's variables as one (secret, when any is) Output dict."""
    merged = env.merged()
    keys = list(merged)
    return pulumi.Output.all(*[merged[k] for k in keys]).apply(
        lambda values: {k: str(v) for k, v in zip(keys, values, strict=True)}
    )


def placement(spec: ServiceSpec) -> list[list[str]]:
    """Processes per app server: as many servers as the largest replica count, so each
    process runs exactly ``replicas`` containers, one per server."""
    servers = max(1, *(p.replicas for p in spec.processes.values()))
    return [[n for n, p in spec.processes.items() if p.replicas > i] for i in range(servers)]


def app_cloud_init(spec: ServiceSpec, processes: list[str], envs: dict[str, dict[str, str]]) -> str:
    """cloud-init for a server that runs the given processes' containers under Docker."""
    files = {f"/etc/migrate/{p}.env": env_file_text(envs[p]) for p in processes}
    lines = [
        "set -eu",
        "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -yq docker.io",
    ]
    for p in processes:
        lines.append(docker_run_script(spec.service.name, p, spec.processes[p], f"/etc/migrate/{p}.env").rstrip())
    return cloud_config(files, lines)


def app_user_data(
    spec: ServiceSpec,
    processes: list[str],
    links: ServiceLinks,
    spec_secrets: Mapping[str, pulumi.Output[str]],
) -> pulumi.Output[str]:
    """The (secret) cloud-init of one app server running ``processes``, env files included."""
    import functools

    envs = {p: resolved_env(app_environment(spec, p, links, spec_secrets)) for p in processes}
    user_data = pulumi.Output.all(**envs).apply(functools.partial(app_cloud_init, spec, processes))
    return secret_input(user_data)


def app_servers_user_data(spec: ServiceSpec, layout: list[list[str]], links: ServiceLinks) -> list[pulumi.Output[str]]:
    """The (secret) cloud-init of each app server of ``layout`` (see ``placement``), in order."""
    spec_secrets = resolve_spec_secrets(spec)
    return [app_user_data(spec, processes, links, spec_secrets) for processes in layout]


def cloud_config(files: dict[str, str], script_lines: list[str]) -> str:
    """A cloud-config writing root-only files, then running one setup script once."""
    import yaml

    document = {
        "write_files": [
            {"path": path, "permissions": "0600", "owner": "root:root", "content": content}
            for path, content in files.items()
        ]
        + [
            {
                "path": "/usr/local/sbin/migrate-setup",
                "permissions": "0700",
                "content": "#!/bin/sh\n" + "\n".join(script_lines) + "\n",
            }
        ],
        "runcmd": [["/usr/local/sbin/migrate-setup"]],
    }

    class Dumper(yaml.SafeDumper):
        """Multi-line strings as literal blocks: files and scripts stay readable, unfolded."""

    def literal(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
        style = "|" if "\n" in data else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    Dumper.add_representer(str, literal)
    return "#cloud-config\n" + yaml.dump(document, Dumper=Dumper, sort_keys=False, width=1 << 16)
