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
from collections.abc import Sequence
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
    """The target as parts (ComponentResources): the hosts' runtime, Postgres and Redis on the
    db host, the object store, the app's containers and the nginx front(s)."""
    check(spec, target, settings)
    b = common.Build(spec, target, settings)
    web_name, web = common.public_process(spec)
    assert web.port is not None
    hosts = Hosts(b)
    links = common.ServiceLinks(tls=settings.tls_certificate is not None)
    if spec.postgres is not None or spec.redis is not None:
        DataHost(b, hosts).link(links)
    if spec.media is not None:
        ObjectStore(b, hosts).link(links)
    front = Front(b, hosts, App(b, hosts, web_name, links))

    # The key each host proved it holds (the spec's pin, or the first one seen): migrate's own
    # data tunnel (providers/vps/access.py) enforces it too.
    pulumi.export("ssh_host_keys", hosts.keys_seen())
    common.export_outputs(
        target=target,
        provider="vps",
        links=links,
        public_addresses=[h.address for h in front.hosts],
        http_port=settings.http_port,
        health_url=common.health_url(front.hosts[0].address, settings.http_port, web.health_path),
    )


class _Part(common.TargetPart):
    """A vps part. Its resources were declared at the stack's root before parts existed, so
    each is made with ``moved`` (an alias to its old URN): existing stacks keep them."""

    adapter = "vps"

    def __init__(self, b: common.Build[VpsSettings]) -> None:
        super().__init__(b)
        self.name = b.name
        self.svc = common.slug(b.spec.service.name, 40)
        self.base = b.settings.base_dir.rstrip("/") + "/" + self.svc

    def password(self, name: str, length: int = 32) -> pulumi.Output[str]:
        """A secret kept in the stack's encrypted state (stable across runs), never printed."""
        return pulumi.Output.secret(GeneratedSecret(name, length=length, opts=self.moved).result)


class Hosts(_Part):
    """The existing hosts: each one's SSH access (its key a secret), Docker and the service's
    root-only directory; the other parts run their scripts on them through ``run``."""

    def __init__(self, b: common.Build[VpsSettings]) -> None:
        super().__init__(b)
        self.settings, self.target = b.settings, b.target
        self.keys = {
            h.address: pulumi.Output.secret(h.private_key.resolve(f"targets.{b.target}.hosts[{i}].private_key"))
            for i, h in enumerate(b.settings.hosts)
            if h.private_key is not None
        }
        setup = f"{INSTALL_DOCKER}\nmkdir -p {self.base}\nchmod 700 {self.base}\n"
        self.runtime = {
            h.address: self.run(self, f"runtime-{common.slug(h.address)}", h, [setup]) for h in b.settings.hosts
        }
        self.register_outputs({})

    def with_role(self, role: str) -> list[SshHost]:
        return hosts_with(self.settings, role, self.target)

    def run(
        self,
        part: _Part,
        label: str,
        host: SshHost,
        script: list[pulumi.Input[str]],
        *,
        delete: str | None = None,
        probe: str | None = None,
        after: Sequence[pulumi.Resource] = (),
    ) -> RemoteScript:
        """``script``'s pieces, joined, run on ``host`` as a resource of ``part`` (after the host's
        runtime); ``delete`` undoes it, ``probe`` (read-only) says whether it still runs."""
        runtime = [] if part is self else [self.runtime[host.address]]
        return RemoteScript(
            f"{self.name}-{label}",
            host=host.address,
            port=host.port,
            user=host.user,
            private_key=self.keys[host.address],  # check() made sure every host has one
            host_key=host.host_key,
            script=pulumi.Output.concat(*script),
            delete_script=f"{delete}\n" if delete else None,
            probe=probe,
            opts=pulumi.ResourceOptions.merge(part.moved, pulumi.ResourceOptions(depends_on=[*runtime, *after])),
        )

    def keys_seen(self) -> pulumi.Output[dict[str, str]]:
        """Host address -> the host key it proved it holds."""
        addresses = list(self.runtime)
        return pulumi.Output.all(*(self.runtime[a].host_key_seen for a in addresses)).apply(
            lambda seen: {a: key for a, key in zip(addresses, seen, strict=True) if key}
        )


class DataHost(_Part):
    """Postgres and Redis as containers on the db host, published on its private address and
    admitted from the app hosts only (Docker's DOCKER-USER chain)."""

    def __init__(self, b: common.Build[VpsSettings], hosts: Hosts) -> None:
        super().__init__(b)
        spec, settings, name, svc, base = b.spec, b.settings, self.name, self.svc, self.base
        db = hosts.with_role("db")[0]
        bind = _private(db)
        app_addresses = sorted({_private(h) for h in hosts.with_role("app")})
        self.database_url: pulumi.Output[str] | None = None
        self.redis_url: pulumi.Output[str] | None = None
        lines: list[pulumi.Input[str]] = []
        if spec.postgres is not None:
            pg = spec.postgres
            password = self.password(f"{name}-db-password")
            # The cluster's superuser is ``postgres`` (its own password, used only on the host);
            # the app's role owns its database and is no superuser, as on a managed database.
            superuser = self.password(f"{name}-db-superuser-password")
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
            self.database_url = common.postgres_url(pg.user, password, bind, 5432, pg.database)
        if spec.redis is not None:
            redis_password = self.password(f"{name}-redis-password")
            conf = redis_password.apply(lambda pw: f"requirepass {pw}\nappendonly yes\ndir /data\n")
            lines += [
                _write_file(f"{base}/redis.conf", conf),
                f"docker rm -f {svc}-redis >/dev/null 2>&1 || true\n"
                f"docker run -d --name {svc}-redis --restart unless-stopped --label migrate.service={svc} "
                f"-v {base}/redis:/data -v {base}/redis.conf:/etc/redis.conf:ro -p {bind}:6379:6379 "
                f"{shlex.quote(settings.redis_image or 'redis:' + spec.redis.version)} redis-server /etc/redis.conf\n",
                _admit_only(6379, app_addresses),
            ]
            self.redis_url = common.redis_url(redis_password, bind, 6379)
        containers = [f"{svc}-postgres"] * (spec.postgres is not None) + [f"{svc}-redis"] * (spec.redis is not None)
        hosts.run(
            self,
            "data",
            db,
            lines,
            delete=f"docker rm -f {svc}-postgres {svc}-redis >/dev/null 2>&1 || true",
            probe=_running_probe(containers),
        )
        self.register_outputs({})

    def link(self, links: common.ServiceLinks) -> None:
        links.database_url = self.database_url
        links.redis_url = self.redis_url


class ObjectStore(_Part):
    """versitygw (Apache-2.0) on the storage host; each spec bucket a directory of its posix
    backend."""

    def __init__(self, b: common.Build[VpsSettings], hosts: Hosts) -> None:
        super().__init__(b)
        assert b.spec.media is not None
        name, svc, base = self.name, self.svc, self.base
        store = hosts.with_role("storage")[0]
        self.access = self.password(f"{name}-s3-access-key", length=20)
        self.secret = self.password(f"{name}-s3-secret-key", length=40)
        self.buckets = {
            bucket.name: common.bucket_name(b.spec, b.target, bucket.name) for bucket in b.spec.media.buckets
        }
        env = pulumi.Output.all(self.access, self.secret).apply(
            lambda a: common.env_file_text({"ROOT_ACCESS_KEY_ID": a[0], "ROOT_SECRET_ACCESS_KEY": a[1]})
        )
        mkdirs = "".join(f"mkdir -p {base}/s3/{real}\n" for real in self.buckets.values())
        script: list[pulumi.Input[str]] = [
            _write_file(f"{base}/s3.env", env),
            f"mkdir -p {base}/s3\n{mkdirs}",
            _container_line(
                f"{svc}-s3",
                f"{base}/s3.env",
                f"-v {base}/s3:/data -p 9000:9000",
                b.settings.object_store_image,
                "--port :9000 posix /data",
                label=svc,
            ),
            f"for i in $(seq 60); do curl -sS -o /dev/null http://{_private(store)}:9000/ "
            ">/dev/null 2>&1 && break; sleep 1; done\n",
        ]
        hosts.run(
            self,
            "object-store",
            store,
            script,
            delete=f"docker rm -f {svc}-s3 >/dev/null 2>&1 || true",
            probe=_running_probe([f"{svc}-s3"]),
        )
        self.endpoint = f"http://{store.address}:9000"
        self.register_outputs({})

    def link(self, links: common.ServiceLinks) -> None:
        links.set_media(self.endpoint, self.buckets, self.access, self.secret)


class App(_Part):
    """The processes' containers on the app hosts, replicas spread round-robin (replica ``i``
    of a process listens on ``port + i``); containers no longer in the layout go."""

    def __init__(self, b: common.Build[VpsSettings], hosts: Hosts, web_name: str, links: common.ServiceLinks) -> None:
        super().__init__(b)
        spec, svc = b.spec, self.svc
        app_hosts = hosts.with_role("app")
        spec_secrets = common.resolve_spec_secrets(spec)
        envs = {p: common.resolved_env(common.app_environment(spec, p, links, spec_secrets)) for p in spec.processes}
        self.upstream: list[str] = []  # the public process's replicas, host:port
        self.scripts: list[pulumi.Resource] = []
        for host, replicas in zip(app_hosts, replica_layout(spec, len(app_hosts)), strict=True):
            if not replicas:
                continue
            parts: list[pulumi.Input[str]] = []
            names = []
            for process_name, replica in replicas:
                process = spec.processes[process_name]
                container = f"{svc}-{process_name}-{replica}"
                names.append(container)
                env_path = f"{self.base}/{process_name}.env"
                parts.append(_write_file(env_path, envs[process_name].apply(common.env_file_text)))
                publish = ""
                if process.port:
                    host_port = process.port + replica
                    publish = f"-p {host_port}:{process.port}"
                    if process_name == web_name:
                        self.upstream.append(f"{_private(host)}:{host_port}")
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
            self.scripts.append(
                hosts.run(
                    self,
                    f"app-{common.slug(host.address)}",
                    host,
                    parts,
                    delete=f"docker ps -aq --filter label=migrate.app={svc} | xargs -r docker rm -f >/dev/null",
                    probe=_running_probe(names),
                )
            )
        self.register_outputs({})


class Front(_Part):
    """nginx on the front host(s), a container on the host's network balancing over every
    replica of the public process; HTTPS too with the target's certificate."""

    def __init__(self, b: common.Build[VpsSettings], hosts: Hosts, app: App) -> None:
        super().__init__(b)
        settings, svc = b.settings, self.svc
        self.hosts = hosts.with_role("front")
        tls = settings.tls_certificate is not None
        front_dir = f"{self.base}/nginx"
        front_name = f"{svc}-front"
        site = _nginx_site(
            svc, b.spec.service.domain, app.upstream, settings.http_port, "/etc/nginx/conf.d/tls" if tls else None
        )
        for host in self.hosts:
            parts: list[pulumi.Input[str]] = []
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
            parts += [
                _write_file(f"{front_dir}/{svc}.conf", site),
                f"docker rm -f {front_name} >/dev/null 2>&1 || true\n"
                f"docker run -d --name {front_name} --restart unless-stopped --label migrate.service={svc} "
                f"--network host -v {front_dir}:/etc/nginx/conf.d:ro {shlex.quote(settings.front_image)}\n",
                f"for i in $(seq 60); do curl -sS -o /dev/null http://{_private(host)}:{settings.http_port}/ "
                ">/dev/null 2>&1 && break; sleep 0.5; done\n"
                f"curl -sS -o /dev/null http://{_private(host)}:{settings.http_port}/ "
                f"|| {{ docker logs --tail 5 {front_name} >&2; exit 1; }}\n",
            ]
            hosts.run(
                self,
                f"front-{common.slug(host.address)}",
                host,
                parts,
                delete=f"docker rm -f {front_name} >/dev/null 2>&1 || true; rm -rf {front_dir}",
                probe=_running_probe([front_name]),
                after=app.scripts,
            )
        self.register_outputs({})


def _private(host: SshHost) -> str:
    """The address the other hosts reach ``host`` on."""
    return host.private_address or host.address


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
