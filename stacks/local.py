"""The local sandbox target as Pulumi resources: Postgres, S3, Redis, app processes, HTTP front.

Independent resources (Postgres, the object store, Redis, the front) only depend on the
host, so the engine creates them in parallel; the app processes wait for the URLs and
keys they are given in their environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pulumi

from providers.local import layout
from providers.local.dynamic.app import AppProcesses
from providers.local.dynamic.front import Front
from providers.local.dynamic.host import Host
from providers.local.dynamic.objectstore import ObjectStore
from providers.local.dynamic.postgres import Postgres
from providers.local.dynamic.redis import Redis
from stacks.app_env import computed_env, computed_files, restart_generation

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec
    from providers.hosting import RunContext
    from providers.local.settings import LocalSettings

S3_REGION = "us-east-1"
PORT_BLOCK = 100  # each process kind with a port gets FIRST_APP_PORT + k*100 + replica


def build(spec: ServiceSpec, target: str, settings: LocalSettings, context: RunContext) -> None:
    address = layout.target_address(target, settings.address)
    directory = str(layout.sandbox_dir(target, settings.base_dir))
    host = Host("host", target=target, address=address, http_port=settings.http_port, sandbox_dir=directory)
    on_host = pulumi.ResourceOptions(depends_on=[host])
    sandbox_dir = host.sandbox_dir

    service_env: dict[str, Any] = dict(spec.env)
    spec_secrets = {key: pulumi.Output.secret(ref.resolve(f"secrets.{key}")) for key, ref in spec.secrets.items()}
    service_env.update(spec_secrets)
    exports: dict[str, Any] = {}

    if spec.postgres:
        database = Postgres(
            "postgres",
            sandbox_dir=sandbox_dir,
            host=address,
            port=layout.POSTGRES_PORT,
            database=spec.postgres.database,
            user=spec.postgres.user,
            locale=spec.postgres.locale,
            opts=on_host,
        )
        service_env["DATABASE_URL"] = database.url
        exports["database_url"] = database.url
        exports["database_admin_url"] = database.admin_url
    if spec.media:
        buckets = [bucket.name for bucket in spec.media.buckets]
        store = ObjectStore(
            "object-store",
            sandbox_dir=sandbox_dir,
            host=address,
            port=layout.S3_PORT,
            events_port=layout.S3_EVENTS_PORT,
            region=S3_REGION,
            buckets=buckets,
            opts=on_host,
        )
        service_env.update(
            {
                "S3_ENDPOINT": store.endpoint,
                "S3_REGION": S3_REGION,
                "S3_BUCKET": buckets[0],
                "S3_ACCESS_KEY": store.access_key,
                "S3_SECRET_KEY": store.secret_key,
            }
        )
        for bucket in buckets:
            service_env[f"S3_BUCKET_{bucket.upper().replace('-', '_')}"] = bucket
        exports.update(
            {
                "s3_endpoint": store.endpoint,
                "s3_region": S3_REGION,
                "s3_buckets": {b: b for b in buckets},
                "s3_access_key": store.access_key,
                "s3_secret_key": store.secret_key,
                "s3_events_url": store.events_url,
            }
        )
    if spec.redis:
        cache = Redis("redis", sandbox_dir=sandbox_dir, host=address, port=layout.REDIS_PORT, opts=on_host)
        service_env["REDIS_URL"] = cache.url
        exports["redis_url"] = cache.url

    public_name, public = spec.public_process()
    backends: list[str] = []
    app_dir = str(context.app_dir.resolve())
    ported = 0
    for name, proc in spec.processes.items():
        ports: list[int] = []
        if proc.port is not None:
            first = layout.FIRST_APP_PORT + PORT_BLOCK * ported
            ports = [first + index for index in range(proc.replicas)]
            ported += 1
        if name == public_name:
            backends = [f"{address}:{port}" for port in ports]
        links: dict[str, Any] = {
            "domain": spec.service.domain,
            "database_url": exports.get("database_url"),
            "s3_endpoint": exports.get("s3_endpoint"),
            "s3_region": exports.get("s3_region"),
            "s3_buckets": exports.get("s3_buckets"),
            "s3_access_key": exports.get("s3_access_key"),
            "s3_secret_key": exports.get("s3_secret_key"),
            "redis_url": exports.get("redis_url"),
        }
        own_env = computed_env({**spec.env, **proc.env}, **links)
        files = computed_files(
            proc.files,
            spec_secrets,
            [
                (address, ports[index] if ports else None, str(layout.files_dir(Path(directory), name, index)))
                for index in range(proc.replicas)
            ],
            **links,
        )
        env = pulumi.Output.all(**{**service_env, **own_env}).apply(lambda values: dict(values))
        assert proc.command, f"process {name} has no command: the local adapter runs commands"
        AppProcesses(
            f"process-{name}",
            sandbox_dir=sandbox_dir,
            process_name=name,
            host=address,
            command=proc.command,
            replicas=proc.replicas,
            ports=ports,
            cwd=app_dir,
            env=env,
            files=files,
            ready=proc.ready.model_dump(mode="json") if proc.ready else None,
            start_timeout=proc.start_timeout_seconds,
            generation=restart_generation() if proc.restart_after_promotion else "",
            opts=on_host,
        )

    Front("front", sandbox_dir=sandbox_dir, host=address, port=settings.http_port, backends=backends, opts=on_host)

    pulumi.export("public_addresses", [address])
    pulumi.export("http_port", settings.http_port)
    pulumi.export("health_url", f"http://{address}:{settings.http_port}{public.health_path}")
    pulumi.export("address", address)
    pulumi.export("sandbox_dir", sandbox_dir)
    for key, value in exports.items():
        pulumi.export(key, value)
