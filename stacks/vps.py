"""The vps stack: hosts that already exist, reached over SSH; no provider API at all.

The stack's own dynamic resource ``RemoteScript`` (providers/vps/dynamic.py, paramiko)
runs idempotent shell scripts on each host, fed on stdin (so secrets never appear on a
command line, in the environment or in the process list; files holding them are 0600
under a 0700 directory): Docker as
the runtime, the app's containers (replica ``i`` of a process listens on ``port + i``),
Postgres and Redis containers bound to the db host and admitted only from app hosts
(Docker's DOCKER-USER chain), a versitygw object store (Apache-2.0), and an nginx container on
the front host(s) balancing over every replica. Every image name comes from the target's
settings (the hosts pull their own), every container carries ``migrate.service=<service>``
(``terminate`` finds them by it), and each script's read-only probe lets ``up`` start again
what was stopped. Scripts use ``sudo -n`` when the SSH user is not root.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

import pulumi

from migrate.errors import InputError
from providers.vps.dynamic import GeneratedSecret, RemoteScript
from stacks import cloud_common as common

if TYPE_CHECKING:
    from migrate.spec.model import ServiceSpec
    from providers.hosting import RunContext
    from providers.vps.settings import SshHost, VpsSettings

INSTALL_DOCKER = (
    "command -v docker >/dev/null 2>&1 || "
    "(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -yq docker.io)"
)


def hosts_with(settings: VpsSettings, role: str, target: str) -> list[SshHost]:
    found = [h for h in settings.hosts if role in h.roles]
    if not found:
        raise InputError(f"targets.{target}.hosts: no host has the {role!r} role")
    return found


def check(spec: ServiceSpec, target: str, settings: VpsSettings) -> None:
    common.require_images(spec, "vps")
    common.public_process(spec)
    for index, host in enumerate(settings.hosts):
        if host.private_key is None:
            raise InputError(f"targets.{target}.hosts[{index}].private_key: give {{file: PATH}} or {{env: NAME}}")
    hosts_with(settings, "app", target)
    hosts_with(settings, "front", target)
    if spec.postgres is not None or spec.redis is not None:
        hosts_with(settings, "db", target)
    if spec.media is not None:
        hosts_with(settings, "storage", target)
    if (settings.tls_certificate is None) != (settings.tls_private_key is None):
        raise InputError(f"targets.{target}.tls_private_key: give both tls_certificate and it")


def replica_layout(spec: ServiceSpec, app_hosts: int) -> list[list[tuple[str, int]]]:
    """(process, replica index) per app host: replicas spread round-robin over the hosts."""
    layout: list[list[tuple[str, int]]] = [[] for _ in range(app_hosts)]
    for name, process in spec.processes.items():
        for replica in range(process.replicas):
            layout[replica % app_hosts].append((name, replica))
    return layout


def build(spec: ServiceSpec, target: str, settings: VpsSettings, context: RunContext) -> None:
    check(spec, target, settings)
    name = common.base_name(spec, target)
    svc = common.slug(spec.service.name, 40)
    base = settings.base_dir.rstrip("/") + "/" + svc
    spec_secrets = common.resolve_spec_secrets(spec)
    web_name, web = common.public_process(spec)
    assert web.port is not None
    app_hosts = hosts_with(settings, "app", target)
    links = common.ServiceLinks(tls=settings.tls_certificate is not None)
    runtime: dict[str, RemoteScript] = {}
    keys = {
        h.address: pulumi.Output.secret(h.private_key.resolve(f"targets.{target}.hosts[{i}].private_key"))
        for i, h in enumerate(settings.hosts)
        if h.private_key is not None
    }

    def run(
        label: str,
        host: SshHost,
        script: pulumi.Input[str],
        delete: str | None = None,
        after: list[pulumi.Resource] | None = None,
        probe: str | None = None,
    ) -> RemoteScript:
        key = keys[host.address]  # check() made sure every host has one
        return RemoteScript(
            f"{name}-{label}",
            host=host.address,
            port=host.port,
            user=host.user,
            private_key=key,
            host_key=host.host_key,
            script=script,
            delete_script=f"{delete}\n" if delete else None,
            probe=probe,
            opts=pulumi.ResourceOptions(depends_on=after or []),
        )

    def private(host: SshHost) -> str:
        return host.private_address or host.address

    for host in settings.hosts:
        runtime[host.address] = run(
            f"runtime-{common.slug(host.address)}",
            host,
            f"{INSTALL_DOCKER}\nmkdir -p {base}\nchmod 700 {base}\n",
        )

    app_addresses = sorted({private(h) for h in app_hosts})

    # --- Postgres and Redis on the db host
    if spec.postgres is not None or spec.redis is not None:
        db = hosts_with(settings, "db", target)[0]
        bind = private(db)
        lines: list[pulumi.Input[str]] = []
        if spec.postgres is not None:
            pg = spec.postgres
            password = _password(f"{name}-db-password")
            # The cluster's superuser is ``postgres`` (its own password, used only on the host);
            # the app's role owns its database and is no superuser, as on a managed database.
            superuser = _password(f"{name}-db-superuser-password")
            cluster = {
                "POSTGRES_USER": "postgres",
                "POSTGRES_DB": "postgres",
                "PGDATA": "/var/lib/postgresql/data/pgdata",
            }
            env = superuser.apply(lambda pw: common.env_file_text({**cluster, "POSTGRES_PASSWORD": pw}))
            lines += [
                _write_file(f"{base}/postgres.env", env),
                _container_line(
                    f"{svc}-postgres",
                    f"{base}/postgres.env",
                    f"-v {base}/postgres:/var/lib/postgresql/data -p {bind}:5432:5432",
                    settings.postgres_image or f"postgres:{pg.version}",
                    label=svc,
                ),
                password.apply(lambda pw: _app_role(f"{svc}-postgres", pg.user, pw, pg.database)),
                _admit_only(5432, app_addresses),
            ]
            links.database_url = common.postgres_url(pg.user, password, bind, 5432, pg.database)
        if spec.redis is not None:
            redis_password = _password(f"{name}-redis-password")
            conf = redis_password.apply(lambda pw: f"requirepass {pw}\nappendonly yes\ndir /data\n")
            lines += [
                _write_file(f"{base}/redis.conf", conf),
                f"docker rm -f {svc}-redis >/dev/null 2>&1 || true\n"
                f"docker run -d --name {svc}-redis --restart unless-stopped --label migrate.service={svc} "
                f"-v {base}/redis:/data -v {base}/redis.conf:/etc/redis.conf:ro -p {bind}:6379:6379 "
                f"{shlex.quote(settings.redis_image or 'redis:' + spec.redis.version)} redis-server /etc/redis.conf\n",
                _admit_only(6379, app_addresses),
            ]
            links.redis_url = common.redis_url(redis_password, bind, 6379)
        data_containers = [f"{svc}-postgres"] * (spec.postgres is not None) + [f"{svc}-redis"] * (
            spec.redis is not None
        )
        run(
            "data",
            db,
            pulumi.Output.secret(pulumi.Output.concat(*lines)),
            delete=f"docker rm -f {svc}-postgres {svc}-redis >/dev/null 2>&1 || true",
            after=[runtime[db.address]],
            probe=_running_probe(data_containers),
        )

    # --- versitygw on the storage host, and the buckets
    if spec.media is not None:
        store = hosts_with(settings, "storage", target)[0]
        access = _password(f"{name}-s3-access-key", length=20)
        secret = _password(f"{name}-s3-secret-key", length=40)
        buckets = {b.name: common.bucket_name(spec, target, b.name) for b in spec.media.buckets}
        env = pulumi.Output.all(access, secret).apply(
            lambda a: common.env_file_text({"ROOT_ACCESS_KEY_ID": a[0], "ROOT_SECRET_ACCESS_KEY": a[1]})
        )
        # versitygw's posix backend: a bucket is a directory under the data root.
        mkdirs = "".join(f"mkdir -p {base}/s3/{real}\n" for real in buckets.values())
        script = pulumi.Output.concat(
            _write_file(f"{base}/s3.env", env),
            f"mkdir -p {base}/s3\n{mkdirs}",
            _container_line(
                f"{svc}-s3",
                f"{base}/s3.env",
                f"-v {base}/s3:/data -p 9000:9000",
                settings.object_store_image,
                "--port :9000 posix /data",
                label=svc,
            ),
            f"for i in $(seq 60); do curl -sS -o /dev/null http://{private(store)}:9000/ "
            ">/dev/null 2>&1 && break; sleep 1; done\n",
        )
        run(
            "object-store",
            store,
            pulumi.Output.secret(script),
            delete=f"docker rm -f {svc}-s3 >/dev/null 2>&1 || true",
            after=[runtime[store.address]],
            probe=_running_probe([f"{svc}-s3"]),
        )
        links.s3_endpoint = f"http://{store.address}:9000"
        links.s3_buckets = buckets
        links.s3_access_key = access
        links.s3_secret_key = secret

    # --- the app's containers
    layout = replica_layout(spec, len(app_hosts))
    upstream: list[str] = []
    app_commands: list[pulumi.Resource] = []
    envs = {p: common.resolved_env(common.app_environment(spec, p, links, spec_secrets)) for p in spec.processes}
    for host, replicas in zip(app_hosts, layout, strict=True):
        if not replicas:
            continue
        parts: list[pulumi.Input[str]] = []
        names = []
        for process_name, replica in replicas:
            process = spec.processes[process_name]
            container = f"{svc}-{process_name}-{replica}"
            names.append(container)
            env_path = f"{base}/{process_name}.env"
            parts.append(_write_file(env_path, envs[process_name].apply(common.env_file_text)))
            publish = ""
            if process.port:
                host_port = process.port + replica
                publish = f"-p {host_port}:{process.port}"
                if process_name == web_name:
                    upstream.append(f"{private(host)}:{host_port}")
            argv = " ".join(shlex.quote(a) for a in common.container_command(process) or [])
            assert process.image is not None
            labelled = f"--label migrate.app={svc} {publish}".strip()
            parts.append(_container_line(container, env_path, labelled, process.image, argv, label=svc))
        # Fewer replicas than before: the app's containers not in this layout go.
        keep = " ".join(f"-e {n}" for n in names)
        parts.append(
            f"docker ps -a --filter label=migrate.app={svc} --format '{{{{.Names}}}}' | "
            f"grep -vxF {keep} | xargs -r docker rm -f >/dev/null\n"
        )
        app_commands.append(
            run(
                f"app-{common.slug(host.address)}",
                host,
                pulumi.Output.secret(pulumi.Output.concat(*parts)),
                delete=f"docker ps -aq --filter label=migrate.app={svc} | xargs -r docker rm -f >/dev/null",
                after=[runtime[host.address]],
                probe=_running_probe(names),
            )
        )

    # --- nginx on the front host(s): a container on the host's network
    fronts = hosts_with(settings, "front", target)
    tls = settings.tls_certificate is not None
    for host in fronts:
        front_dir = f"{base}/nginx"
        parts = []
        if tls:
            assert settings.tls_certificate is not None and settings.tls_private_key is not None
            parts += [
                _write_file(
                    f"{front_dir}/tls.crt",
                    pulumi.Output.secret(settings.tls_certificate.resolve("tls_certificate") + "\n"),
                ),
                _write_file(
                    f"{front_dir}/tls.key",
                    pulumi.Output.secret(settings.tls_private_key.resolve("tls_private_key") + "\n"),
                ),
            ]
        site = _nginx_site(
            svc, spec.service.domain, upstream, settings.http_port, "/etc/nginx/conf.d/tls" if tls else None
        )
        front_name = f"{svc}-front"
        parts += [
            _write_file(f"{front_dir}/{svc}.conf", site),
            f"docker rm -f {front_name} >/dev/null 2>&1 || true\n"
            f"docker run -d --name {front_name} --restart unless-stopped --label migrate.service={svc} "
            f"--network host -v {front_dir}:/etc/nginx/conf.d:ro {shlex.quote(settings.front_image)}\n",
            f"for i in $(seq 60); do curl -sS -o /dev/null http://{private(host)}:{settings.http_port}/ "
            ">/dev/null 2>&1 && break; sleep 0.5; done\n"
            f"curl -sS -o /dev/null http://{private(host)}:{settings.http_port}/ "
            f"|| {{ docker logs --tail 5 {front_name} >&2; exit 1; }}\n",
        ]
        run(
            f"front-{common.slug(host.address)}",
            host,
            pulumi.Output.secret(pulumi.Output.concat(*parts)),
            delete=f"docker rm -f {front_name} >/dev/null 2>&1 || true; rm -rf {front_dir}",
            after=[runtime[host.address], *app_commands],
            probe=_running_probe([front_name]),
        )

    # The key each host proved it holds (the spec's pin, or the first one seen): migrate's own
    # data tunnel (providers/vps/access.py) enforces it too.
    addresses = list(runtime)
    pulumi.export(
        "ssh_host_keys",
        pulumi.Output.all(*(runtime[a].host_key_seen for a in addresses)).apply(
            lambda seen: {a: key for a, key in zip(addresses, seen, strict=True) if key}
        ),
    )
    front = fronts[0].address
    common.export_outputs(
        target=target,
        provider="vps",
        links=links,
        public_addresses=[h.address for h in fronts],
        http_port=settings.http_port,
        health_url=common.health_url(front, settings.http_port, web.health_path),
    )


def _write_file(path: str, content: pulumi.Input[str]) -> pulumi.Output[str]:
    """Shell that writes a root-only file through a quoted heredoc (no expansion)."""
    marker = "MIGRATE_EOF_7f3a"
    return pulumi.Output.concat(
        f"umask 077; mkdir -p $(dirname {path}); cat > {path} <<'{marker}'\n",
        content,
        f"{marker}\n",
    )


def _container_line(name: str, env_file: str, extra: str, image: str, argv: str = "", *, label: str) -> str:
    """``label``: the service's slug, on every container (``terminate`` finds them by it)."""
    return (
        f"docker rm -f {name} >/dev/null 2>&1 || true\n"
        f"docker run -d --name {name} --restart unless-stopped --label migrate.service={label} "
        f"--env-file {env_file} {extra} {shlex.quote(image)} {argv}".rstrip()
        + "\n"
    )


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_name(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _app_role(container: str, user: str, password: str, database: str) -> str:
    """Shell that makes (or updates) the app's login role and its database, as ``postgres`` over
    the container's local socket; the SQL, password included, is on psql's stdin. Retried while
    the image's first start initialises the cluster (it restarts the server once)."""
    marker = "MIGRATE_SQL_5d1c"
    sql = (
        f"SELECT 'CREATE ROLE {_sql_name(user)}' WHERE NOT EXISTS "
        f"(SELECT FROM pg_roles WHERE rolname = {_sql_literal(user)})\\gexec\n"
        f"ALTER ROLE {_sql_name(user)} LOGIN NOSUPERUSER PASSWORD {_sql_literal(password)};\n"
        f"SELECT 'CREATE DATABASE {_sql_name(database)} OWNER {_sql_name(user)}' WHERE NOT EXISTS "
        f"(SELECT FROM pg_database WHERE datname = {_sql_literal(database)})\\gexec\n"
    )
    return (
        "made=\n"
        "for i in $(seq 90); do\n"
        f"  if docker exec -i {container} psql -q -v ON_ERROR_STOP=1 -U postgres -d postgres "
        f">/dev/null 2>&1 <<'{marker}'\n{sql}{marker}\n"
        "  then made=1; break; fi\n"
        "  sleep 1\n"
        "done\n"
        f'[ -n "$made" ] || {{ docker logs --tail 5 {container} >&2; '
        'echo "postgres: the app role was not made" >&2; exit 1; }\n'
    )


def _running_probe(containers: list[str]) -> str:
    """Read-only: exit 0 when every container runs (else the next ``up`` starts them again)."""
    checks = "".join(
        f'[ "$(docker inspect -f {{{{.State.Running}}}} {name} 2>/dev/null)" = true ] || exit 1\n'
        for name in containers
    )
    return checks or "true\n"


def _admit_only(port: int, sources: list[str]) -> str:
    """Docker-published port reachable from the app hosts (and the host itself) only."""
    rules = [
        f"iptables -D DOCKER-USER -p tcp -m conntrack --ctorigdstport {port} -j DROP 2>/dev/null || true",
        f"iptables -I DOCKER-USER -p tcp -m conntrack --ctorigdstport {port} -j DROP",
    ]
    for source in [*sources, "127.0.0.1"]:
        rules.append(
            f"iptables -C DOCKER-USER -p tcp -s {source} -m conntrack --ctorigdstport "
            f"{port} -j RETURN 2>/dev/null || iptables -I DOCKER-USER -p tcp -s {source} "
            f"-m conntrack --ctorigdstport {port} -j RETURN"
        )
    return "\n".join(rules) + "\n"


def _nginx_site(svc: str, domain: str, upstream: list[str], port: int, tls: str | None) -> str:
    servers = "".join(f"    server {u} max_fails=2 fail_timeout=10s;\n" for u in upstream)
    proxy = (
        f"    location / {{\n        proxy_pass http://{svc}_app;\n"
        "        proxy_set_header Host $host;\n"
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "        proxy_set_header X-Forwarded-Proto $scheme;\n    }\n"
    )
    site = f"upstream {svc}_app {{\n{servers}}}\nserver {{\n    listen {port} default_server;\n{proxy}}}\n"
    if tls:
        site += (
            f"server {{\n    listen 443 ssl;\n    server_name {domain} www.{domain};\n"
            f"    ssl_certificate {tls}.crt;\n    ssl_certificate_key {tls}.key;\n{proxy}}}\n"
        )
    return site


def _password(name: str, length: int = 32) -> pulumi.Output[str]:
    """A secret kept in the stack's encrypted state (stable across runs), never printed."""
    return pulumi.Output.secret(GeneratedSecret(name, length=length).result)
