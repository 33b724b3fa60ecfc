"""Every cloud adapter, driven by Pulumi's unit-test mocks on chirp's spec.

The mocks stand in for the providers' APIs (AWS, Hetzner, DigitalOcean, a Kubernetes
cluster, SSH hosts): computed attributes are shaped like the real providers' (see
``harness.computed_state``). Every recorded input is also checked against the provider
SDK's own input types, since the mocks would accept anything.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from migrate.errors import InputError
from migrate.outputs import OPTIONAL_OUTPUTS, SECRET_OUTPUTS, TargetOutputs
from migrate.spec.model import ServiceSpec
from migrate.spec.secrets import SecretRef
from providers.registry import hosting_adapter
from providers.vps.settings import VpsSettings
from tests.adapters.conftest import SECRET_VALUES
from tests.adapters.harness import Deployment, run_program, sdk_problems

CLOUD_TARGETS = {
    "aws": "aws-prod",
    "hetzner": "hetzner-fsn",
    "digitalocean": "do-ams",
    "vps": "vps-epik",
    "kubernetes": "k8s",
}


def deploy(spec: ServiceSpec, provider: str, target: str | None = None) -> Deployment:
    target = target or CLOUD_TARGETS[provider]
    adapter = hosting_adapter(provider)
    return run_program(lambda: adapter.program(spec, target, spec.targets[target]))


def with_process(spec: ServiceSpec, name: str, **changes: Any) -> ServiceSpec:
    processes = dict(spec.processes)
    processes[name] = processes[name].model_copy(update=changes)
    return spec.model_copy(update={"processes": processes})


def all_text(deployment: Deployment, plain_only: bool = True) -> str:
    """Every input value that is NOT marked secret, as one string."""
    chunks = []
    for r in deployment.resources:
        inputs = dict(r.inputs)
        chunks.append(json.dumps(_strip_secrets(inputs), default=str))
    return "\n".join(chunks)


def _strip_secrets(value: Any) -> Any:
    from tests.adapters.harness import SECRET_KEY, SECRET_SIG

    if isinstance(value, dict):
        if value.get(SECRET_KEY) == SECRET_SIG:
            return "[secret]"
        return {k: _strip_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_secrets(v) for v in value]
    return value


# ------------------------------------------------------------------------------ shared contract


@pytest.mark.parametrize("provider", sorted(CLOUD_TARGETS))
def test_outputs_fit_the_shared_contract(chirp: ServiceSpec, provider: str) -> None:
    d = deploy(chirp, provider)
    contract = set(TargetOutputs.model_fields)
    assert contract - OPTIONAL_OUTPUTS <= set(d.outputs) <= contract, "exports the contract and nothing else"
    outputs = TargetOutputs.from_stack(d.outputs["target"], d.outputs["provider"], d.outputs)
    assert outputs.provider == provider
    assert outputs.target == CLOUD_TARGETS[provider]
    assert outputs.health_url.endswith("/healthz")
    assert outputs.public_addresses or outputs.public_hostname
    assert outputs.database_url is not None
    assert outputs.database_url.get_secret_value().startswith("postgresql://chirp:")
    assert outputs.database_url.get_secret_value().split("/")[-1].split("?")[0] == "chirp"
    assert outputs.redis_url is not None
    assert set(outputs.s3_buckets) == {"chirp-media"}
    assert outputs.s3_endpoint and outputs.s3_access_key and outputs.s3_secret_key
    # every secret field of the contract is a Pulumi secret in the stack
    present = {k for k in SECRET_OUTPUTS if d.outputs.get(k) is not None}
    assert present == SECRET_OUTPUTS - OPTIONAL_OUTPUTS
    assert present <= d.secret_outputs


@pytest.mark.parametrize("provider", sorted(CLOUD_TARGETS))
def test_inputs_fit_the_provider_sdk(chirp: ServiceSpec, provider: str) -> None:
    d = deploy(chirp, provider)
    assert d.resources
    assert sdk_problems(d) == []


@pytest.mark.parametrize("provider", sorted(CLOUD_TARGETS))
def test_resource_plan_matches_what_the_program_creates(chirp: ServiceSpec, provider: str) -> None:
    target = CLOUD_TARGETS[provider]
    adapter = hosting_adapter(provider)
    plan = {t: n for t, n in adapter.resource_plan(chirp, chirp.targets[target]) if ":" in t}
    assert plan == deploy(chirp, provider).types()


@pytest.mark.parametrize("provider", sorted(CLOUD_TARGETS))
def test_no_secret_value_in_plain_inputs(chirp: ServiceSpec, provider: str) -> None:
    d = deploy(chirp, provider)
    text = all_text(d)
    # the real secrets, and the values the mocks give generated passwords and keys
    for value in [
        *SECRET_VALUES.values(),
        "ssh-private-key-value",
        "pw-chirp",
        "secret-chirp",
        "do-secret",
        "cluster-pw",
    ]:
        assert value not in text, f"{value!r} appears in an input not marked secret"


@pytest.mark.parametrize("provider", sorted(CLOUD_TARGETS))
def test_a_process_without_an_image_is_refused(chirp: ServiceSpec, provider: str) -> None:
    spec = with_process(chirp, "worker", image=None)
    with pytest.raises(InputError, match=r"processes\.worker: .* give an image"):
        deploy(spec, provider)


# ------------------------------------------------------------------------------ aws


def test_aws_database_reachable_only_from_the_app(chirp: ServiceSpec) -> None:
    d = deploy(chirp, "aws")
    db = d.one("aws:rds/instance:Instance").plain
    assert db["publiclyAccessible"] is False
    (db_sg_id,) = db["vpcSecurityGroupIds"]
    rules = [
        r.plain
        for r in d.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.plain["securityGroupId"] == db_sg_id
    ]
    assert len(rules) == 1
    app_sg = d.by_id(rules[0]["referencedSecurityGroupId"])
    assert app_sg.name.endswith("-app")
    assert "cidrIpv4" not in rules[0]
    # the app's tasks run in that security group
    for service in d.of_type("aws:ecs/service:Service"):
        assert service.plain["networkConfiguration"]["securityGroups"] == [app_sg.id]
    # the database lives in the private subnets
    group = d.one("aws:rds/subnetGroup:SubnetGroup").plain
    assert all(d.by_id(s).name.split("-")[-2] == "private" for s in group["subnetIds"])
    assert "password" in d.one("aws:rds/instance:Instance").secret_paths()


def test_aws_replicas_health_check_and_secrets(chirp: ServiceSpec) -> None:
    d = deploy(chirp, "aws")
    services = {r.name: r.plain for r in d.of_type("aws:ecs/service:Service")}
    assert services["chirp-aws-prod-web"]["desiredCount"] == 2
    assert services["chirp-aws-prod-worker"]["desiredCount"] == 1
    assert services["chirp-aws-prod-web"]["loadBalancers"][0]["containerPort"] == 8080
    assert not services["chirp-aws-prod-worker"].get("loadBalancers")
    tg = d.one("aws:lb/targetGroup:TargetGroup").plain
    assert tg["healthCheck"]["path"] == "/healthz" and tg["port"] == 8080
    web_task = d.named("chirp-aws-prod-web", "aws:ecs/taskDefinition:TaskDefinition").plain
    (container,) = json.loads(web_task["containerDefinitions"])
    env = {e["name"]: e["value"] for e in container["environment"]}
    secrets = {s["name"] for s in container["secrets"]}
    assert {
        "DATABASE_URL",
        "REDIS_URL",
        "S3_ACCESS_KEY",
        "S3_SECRET_KEY",
        "CHIRP_SESSION_KEY",
    } <= secrets
    assert not secrets & set(env)
    assert env["S3_BUCKET"].startswith("chirp-media") and env["CHIRP_LOG_LEVEL"] == "info"
    assert container["command"][-1] == "8080" and "0.0.0.0" in container["command"]
    for version in d.of_type("aws:secretsmanager/secretVersion:SecretVersion"):
        assert "secretString" in version.secret_paths()


def test_aws_tls_listener_only_with_a_certificate(chirp: ServiceSpec) -> None:
    listeners = deploy(chirp, "aws").of_type("aws:lb/listener:Listener")
    assert [r.plain["port"] for r in listeners] == [80]
    settings = chirp.targets["aws-prod"].model_copy(update={"certificate_arn": "arn:aws:acm:us-west-2:1:certificate/x"})
    spec = chirp.model_copy(update={"targets": {**chirp.targets, "aws-prod": settings}})
    listeners = deploy(spec, "aws").of_type("aws:lb/listener:Listener")
    https = [r.plain for r in listeners if r.plain["port"] == 443]
    assert https and https[0]["protocol"] == "HTTPS"
    assert https[0]["certificateArn"].endswith("certificate/x")


def test_aws_without_redis_or_media_creates_neither(chirp: ServiceSpec) -> None:
    spec = chirp.model_copy(update={"redis": None, "media": None})
    d = deploy(spec, "aws")
    assert not d.of_type("aws:elasticache/replicationGroup:ReplicationGroup")
    assert not d.of_type("aws:s3/bucket:Bucket")
    assert d.outputs["redis_url"] is None and d.outputs["s3_buckets"] == {}


# ------------------------------------------------------------------------------ hetzner


def _setup_script(user_data: str) -> str:
    """The setup script a cloud-config carries (parsed, as cloud-init would)."""
    import yaml

    assert user_data.startswith("#cloud-config\n")
    document = yaml.safe_load(user_data)
    (script,) = [f["content"] for f in document["write_files"] if f["path"] == "/usr/local/sbin/migrate-setup"]
    assert document["runcmd"] == [["/usr/local/sbin/migrate-setup"]]
    return str(script)


def test_hetzner_database_server_closed_to_all_but_the_app(chirp: ServiceSpec) -> None:
    d = deploy(chirp, "hetzner")
    servers = {r.name: r for r in d.of_type("hcloud:index/server:Server")}
    db = servers["chirp-hetzner-fsn-db"]
    (firewall_id,) = db.plain["firewallIds"]
    firewall = d.by_id(firewall_id).plain
    assert all(rule["protocol"] == "icmp" for rule in firewall["rules"])
    assert "userData" in db.secret_paths()
    user_data = _setup_script(db.plain["userData"])
    db_ip = db.plain["networks"][0]["ip"]
    assert f"-p {db_ip}:5432:5432" in user_data
    app_ips = [s.plain["networks"][0]["ip"] for n, s in servers.items() if "-app-" in n]
    for ip in app_ips:
        assert f"-s {ip} -m conntrack --ctorigdstport 5432 -j RETURN" in user_data
    assert "--ctorigdstport 5432 -j DROP" in user_data
    volume = d.one("hcloud:index/volume:Volume").plain
    assert volume["size"] == 20
    assert f"scsi-0HC_Volume_{d.one('hcloud:index/volume:Volume').id}" in user_data


def test_hetzner_replicas_and_health_check(chirp: ServiceSpec) -> None:
    d = deploy(chirp, "hetzner")
    apps = [r for r in d.of_type("hcloud:index/server:Server") if "-app-" in r.name]
    assert len(apps) == 2  # web has 2 replicas, one per server; worker 1
    runs = [r.plain["userData"].count("docker run -d --name chirp-web") for r in apps]
    assert runs == [1, 1]
    assert sum(r.plain["userData"].count("--name chirp-worker") for r in apps) == 1
    targets = d.of_type("hcloud:index/loadBalancerTarget:LoadBalancerTarget")
    assert {t.plain["serverId"] for t in targets} == {int(a.id) for a in apps}
    assert all(t.plain["usePrivateIp"] for t in targets)
    service = d.one("hcloud:index/loadBalancerService:LoadBalancerService").plain
    assert service["healthCheck"]["http"]["path"] == "/healthz"
    assert service["destinationPort"] == 8080


def test_hetzner_refuses_media_without_object_storage(chirp: ServiceSpec) -> None:
    settings = chirp.targets["hetzner-fsn"].model_copy(update={"location": "ash"})
    spec = chirp.model_copy(update={"targets": {**chirp.targets, "hetzner-fsn": settings}})
    with pytest.raises(InputError, match="Object Storage is offered only in"):
        deploy(spec, "hetzner")
    settings = chirp.targets["hetzner-fsn"].model_copy(update={"s3_access_key": None})
    spec = chirp.model_copy(update={"targets": {**chirp.targets, "hetzner-fsn": settings}})
    with pytest.raises(InputError, match=r"targets\.hetzner-fsn\.s3_access_key"):
        deploy(spec, "hetzner")


# ------------------------------------------------------------------------------ digitalocean


def test_digitalocean_databases_trust_only_the_app_droplets(chirp: ServiceSpec) -> None:
    d = deploy(chirp, "digitalocean")
    app_tag = d.named("chirp-do-ams-app", "digitalocean:index/tag:Tag").plain["name"]
    for firewall in d.of_type("digitalocean:index/databaseFirewall:DatabaseFirewall"):
        assert firewall.plain["rules"] == [{"type": "tag", "value": app_tag}]
    assert len(d.of_type("digitalocean:index/databaseFirewall:DatabaseFirewall")) == 2
    for droplet in d.of_type("digitalocean:index/droplet:Droplet"):
        assert app_tag in droplet.plain["tags"]
        assert "userData" in droplet.secret_paths()
    droplet_firewall = d.one("digitalocean:index/firewall:Firewall").plain
    (inbound,) = droplet_firewall["inboundRules"]
    assert inbound["sourceLoadBalancerUids"] == [d.one("digitalocean:index/loadBalancer:LoadBalancer").id]
    assert "sourceAddresses" not in inbound


def test_digitalocean_replicas_health_and_version_check(chirp: ServiceSpec) -> None:
    d = deploy(chirp, "digitalocean")
    lb = d.one("digitalocean:index/loadBalancer:LoadBalancer").plain
    assert lb["healthcheck"]["path"] == "/healthz" and lb["healthcheck"]["port"] == 8080
    assert len(lb["dropletIds"]) == 2
    assert chirp.postgres is not None
    spec = chirp.model_copy(update={"postgres": chirp.postgres.model_copy(update={"version": 13})})
    with pytest.raises(InputError, match=r"postgres\.version: DigitalOcean managed Postgres offers"):
        deploy(spec, "digitalocean")


# ------------------------------------------------------------------------------ kubernetes


def test_kubernetes_data_reachable_only_from_app_pods(chirp: ServiceSpec) -> None:
    d = deploy(chirp, "kubernetes")
    policies = {r.name: r.plain for r in d.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")}
    assert set(policies) == {"chirp-postgres-from-app", "chirp-redis-from-app", "chirp-s3-from-app"}
    policy = policies["chirp-postgres-from-app"]["spec"]
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "postgres"
    (rule,) = policy["ingress"]
    (peer,) = rule["from"]
    assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "app"
    deployments = {r.name: r.plain for r in d.of_type("kubernetes:apps/v1:Deployment")}
    for dep in deployments.values():
        assert dep["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "app"
    for secret in d.of_type("kubernetes:core/v1:Secret"):
        assert secret.secret_paths() & {
            "stringData",
            *(f"stringData.{k}" for k in secret.plain["stringData"]),
        }


def test_kubernetes_replicas_probes_and_ingress(chirp: ServiceSpec) -> None:
    d = deploy(chirp, "kubernetes")
    web = d.named("chirp-web", "kubernetes:apps/v1:Deployment").plain
    worker = d.named("chirp-worker", "kubernetes:apps/v1:Deployment").plain
    assert web["spec"]["replicas"] == 2 and worker["spec"]["replicas"] == 1
    (container,) = web["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080}
    assert container["envFrom"][0]["secretRef"]["name"] == "chirp-app"
    assert "DATABASE_URL" not in {e["name"] for e in container["env"]}
    ingress = d.one("kubernetes:networking.k8s.io/v1:Ingress").plain
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert {r.get("host") for r in ingress["spec"]["rules"]} == {
        "chirp.test",
        "www.chirp.test",
        None,
    }


def test_kubernetes_cloudnative_pg_when_asked(chirp: ServiceSpec) -> None:
    settings = chirp.targets["k8s"].model_copy(update={"postgres": "cloudnative-pg"})
    spec = chirp.model_copy(update={"targets": {**chirp.targets, "k8s": settings}})
    d = deploy(spec, "kubernetes")
    cluster = d.one("kubernetes:postgresql.cnpg.io/v1:Cluster").plain
    assert cluster["spec"]["bootstrap"]["initdb"]["owner"] == "chirp"
    assert {r.name for r in d.of_type("kubernetes:apps/v1:StatefulSet")} == {
        "chirp-redis",
        "chirp-s3",
    }
    assert "chirp-postgres-rw.chirp.svc" in d.outputs["database_url"]
    plan = dict(hosting_adapter("kubernetes").resource_plan(spec, settings))
    assert plan == d.types()


# ------------------------------------------------------------------------------ vps


def test_vps_runs_everything_over_ssh_with_secrets_on_stdin(chirp: ServiceSpec) -> None:
    d = deploy(chirp, "vps")
    # The stack's own dynamic resources: no plugin to download (pulumi-command is gone).
    commands = d.of_type("pulumi-python:dynamic/vps:RemoteScript")
    assert {c.typ for c in d.resources} == {
        "pulumi-python:dynamic/vps:RemoteScript",
        "pulumi-python:dynamic/vps:GeneratedSecret",
        *(f"migrate:vps:{part}" for part in ("Hosts", "DataHost", "ObjectStore", "App", "Front")),
    }
    for c in commands:
        assert c.plain["host"] == "203.0.113.10"
        assert c.plain["user"] == "deploy"
        assert {"private_key", "script"} <= c.secret_paths()  # the key; the script (stdin)
    data = d.named("chirp-vps-epik-data")
    assert "postgres:15" in data.plain["script"]
    assert "--ctorigdstport 5432 -j DROP" in data.plain["script"]
    app = d.named("chirp-vps-epik-app-203-0-113-10").plain["script"]
    # two web replicas on one host: ports 8080 and 8081, both behind nginx
    assert "-p 8080:8080" in app and "-p 8081:8080" in app
    # replicas removed from the spec are removed from the host; destroy removes them all
    assert "--format '{{.Names}}' | grep -vxF -e chirp-web-0 -e chirp-web-1" in app
    app_delete = d.named("chirp-vps-epik-app-203-0-113-10").plain["delete_script"]
    assert "--filter label=migrate.app=chirp" in app_delete
    front = d.named("chirp-vps-epik-front-203-0-113-10").plain["script"]
    assert "server 203.0.113.10:8080" in front and "server 203.0.113.10:8081" in front


def test_vps_refuses_hosts_without_a_needed_role(chirp: ServiceSpec) -> None:
    settings = chirp.targets["vps-epik"]
    assert isinstance(settings, VpsSettings)
    hosts = [settings.hosts[0].model_copy(update={"roles": ["app", "front"]})]
    spec = chirp.model_copy(
        update={"targets": {**chirp.targets, "vps-epik": settings.model_copy(update={"hosts": hosts})}}
    )
    with pytest.raises(InputError, match=r"targets\.vps-epik\.hosts: no host has the 'db' role"):
        deploy(spec, "vps")


# ------------------------------------------------------------------------------ scripts


@pytest.mark.parametrize("provider", ["vps", "hetzner", "digitalocean"])
def test_generated_shell_scripts_parse(chirp: ServiceSpec, provider: str, tmp_path: Any) -> None:
    """Every script the hosts run is valid POSIX shell (``sh -n``), heredocs included."""
    import subprocess

    d = deploy(chirp, provider)
    scripts = []
    for r in d.resources:
        plain = r.plain
        if r.typ == "pulumi-python:dynamic/vps:RemoteScript":
            scripts.append(plain["script"])
        elif "userData" in plain:
            scripts.append(_setup_script(plain["userData"]))
    assert len(scripts) >= 2
    for index, script in enumerate(scripts):
        path = tmp_path / f"script-{index}.sh"
        path.write_text(script)
        result = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def _plain_text(deployment: Deployment) -> str:
    return "\n".join(json.dumps(r.plain, default=str) for r in deployment.resources)


TLS_SETTINGS = {
    "aws": {"certificate_arn": "arn:aws:acm:us-west-2:1:certificate/x"},
    "hetzner": {"certificate_id": 7},
    "digitalocean": {"certificate_name": "chirp-cert"},
    "kubernetes": {"tls_secret": "chirp-tls"},
    "vps": {"tls_certificate": SecretRef(env="TLS_CERT_PEM"), "tls_private_key": SecretRef(env="TLS_KEY_PEM")},
}


@pytest.mark.parametrize("provider", sorted(TLS_SETTINGS))
def test_service_tls_reference_follows_the_targets_certificate(
    chirp: ServiceSpec, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``{service.tls}``/``{service.url}`` say https exactly when the target is given a certificate."""
    monkeypatch.setenv("TLS_CERT_PEM", "-----BEGIN CERTIFICATE-----")
    monkeypatch.setenv("TLS_KEY_PEM", "-----BEGIN PRIVATE KEY-----")
    target = CLOUD_TARGETS[provider]
    spec = chirp.model_copy(update={"env": {**chirp.env, "APP_PUBLIC": "tls={service.tls} url={service.url}"}})
    plain = _plain_text(deploy(spec, provider))
    assert "tls=false url=http://" in plain and "tls=true" not in plain
    settings = spec.targets[target].model_copy(update=TLS_SETTINGS[provider])
    spec = spec.model_copy(update={"targets": {**spec.targets, target: settings}})
    plain = _plain_text(deploy(spec, provider))
    assert f"tls=true url=https://{spec.service.domain}" in plain and "tls=false" not in plain
