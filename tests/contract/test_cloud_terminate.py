"""Termination through each cloud's API.

aws runs against moto (the AWS emulator: ECS and EC2 as boto3 calls them). hetzner and
digitalocean cannot run here: they are tested against the recorded shape of their public
APIs (https://docs.hetzner.cloud, https://docs.digitalocean.com/reference/api/), served by
an httpx MockTransport that answers as those APIs do and records every request.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from migrate.spec.loader import parse_spec
from tests.contract.shop import shop_spec_text

SPEC = shop_spec_text(
    "aws-a: {provider: aws, region: us-east-1}",
    "hz: {provider: hetzner, token: {env: HCLOUD_TOKEN}}",
    "do: {provider: digitalocean, token: {env: DO_TOKEN}}",
)


@pytest.fixture
def spec(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("HCLOUD_TOKEN", "hz-token")
    monkeypatch.setenv("DO_TOKEN", "do-token")
    return parse_spec(SPEC, "shop.yaml")


def test_aws_scales_services_to_zero_stops_tasks_and_revokes_ingress(
    spec: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto import mock_aws

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    with mock_aws():
        import boto3

        from migrate.chaos import terminate

        tags = {"app": "shop", "migrate-target": "aws-a", "managed-by": "migrate"}
        ecs = boto3.client("ecs", region_name="us-east-1")
        ec2 = boto3.client("ec2", region_name="us-east-1")
        ours = ecs.create_cluster(clusterName="shop-aws-a-1234", tags=[{"key": k, "value": v} for k, v in tags.items()])
        other = ecs.create_cluster(clusterName="someone-else", tags=[{"key": "app", "value": "other"}])
        for cluster in (ours, other):
            arn = cluster["cluster"]["clusterArn"]
            ecs.register_task_definition(
                family="web", containerDefinitions=[{"name": "web", "image": "x", "memory": 64}]
            )
            ecs.create_service(cluster=arn, serviceName="web", taskDefinition="web", desiredCount=2)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        groups = []
        for name, group_tags in (("ours", tags), ("theirs", {"app": "other"})):
            group = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
            ec2.create_tags(Resources=[group], Tags=[{"Key": k, "Value": v} for k, v in group_tags.items()])
            ec2.authorize_security_group_ingress(
                GroupId=group,
                IpPermissions=[
                    {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
                ],
            )
            groups.append(group)

        result = terminate(spec, "aws-a")

        services = ecs.describe_services(cluster=ours["cluster"]["clusterArn"], services=["web"])["services"]
        assert [s["desiredCount"] for s in services] == [0]
        untouched = ecs.describe_services(cluster=other["cluster"]["clusterArn"], services=["web"])["services"]
        assert [s["desiredCount"] for s in untouched] == [2]
        described = {g["GroupId"]: g for g in ec2.describe_security_groups(GroupIds=groups)["SecurityGroups"]}
        assert described[groups[0]]["IpPermissions"] == []
        assert len(described[groups[1]]["IpPermissions"]) == 1
        assert "service:web" in result.stopped and f"security-group:{groups[0]}" in result.stopped


class RecordedApi:
    """Answers as the provider's API does for the calls terminate makes; records every request."""

    def __init__(self, routes: dict[tuple[str, str], Any]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, str, Any, str]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body, request.headers.get("authorization", "")))
        answer = self.routes.get((request.method, request.url.path))
        if answer is None:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "not found"}})
        return httpx.Response(answer[0], json=answer[1])


def test_hetzner_powers_servers_off_and_empties_firewall_rules(spec: Any) -> None:
    from providers.hetzner.terminate import terminate

    action = {"action": {"id": 1, "command": "poweroff", "status": "running"}}
    api = RecordedApi(
        {
            ("GET", "/v1/servers"): (
                200,
                {
                    "servers": [{"id": 11, "name": "shop-hz-app-0", "status": "running"}],
                    "meta": {"pagination": {"page": 1, "next_page": None}},
                },
            ),
            ("GET", "/v1/firewalls"): (
                200,
                {"firewalls": [{"id": 7, "name": "shop-hz-closed"}], "meta": {"pagination": {"next_page": None}}},
            ),
            ("POST", "/v1/servers/11/actions/poweroff"): (201, action),
            ("POST", "/v1/firewalls/7/actions/set_rules"): (201, {"actions": [action["action"]]}),
        }
    )
    result = terminate(spec, "hz", spec.target("hz"), transport=httpx.MockTransport(api.handler))
    calls = [(m, p, b) for m, p, b, _ in api.requests]
    assert ("POST", "/v1/servers/11/actions/poweroff", None) in calls
    assert ("POST", "/v1/firewalls/7/actions/set_rules", {"rules": []}) in calls
    assert all(auth == "Bearer hz-token" for *_, auth in api.requests)
    listed = [r for r in api.requests if r[0] == "GET"]
    assert listed and all(r[1] in ("/v1/servers", "/v1/firewalls") for r in listed)
    assert result.stopped == {"server:shop-hz-app-0": 11, "firewall:shop-hz-closed": 7}


def test_hetzner_api_error_is_one_line(spec: Any) -> None:
    from migrate.errors import MigrateError
    from providers.hetzner.terminate import terminate

    api = RecordedApi({("GET", "/v1/servers"): (401, {"error": {"code": "unauthorized", "message": "invalid token"}})})
    with pytest.raises(MigrateError, match=r"HTTP 401 invalid token"):
        terminate(spec, "hz", spec.target("hz"), transport=httpx.MockTransport(api.handler))


@pytest.mark.parametrize("target", ["hz", "do"])
def test_no_answer_from_the_api_is_one_line_naming_target_and_provider(spec: Any, target: str) -> None:
    from migrate.errors import MigrateError
    from providers.digitalocean.terminate import terminate as do_terminate
    from providers.hetzner.terminate import terminate as hz_terminate

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    terminate = {"hz": hz_terminate, "do": do_terminate}[target]
    provider = spec.target(target).provider
    with pytest.raises(MigrateError, match=rf"^terminate {target} \({provider}\): ConnectError: connection refused$"):
        terminate(spec, target, spec.target(target), transport=httpx.MockTransport(unreachable))


def test_digitalocean_powers_droplets_off_and_removes_inbound_rules(spec: Any) -> None:
    from providers.digitalocean.terminate import terminate

    rules = [{"protocol": "tcp", "ports": "8080", "sources": {"load_balancer_uids": ["lb-1"]}}]
    api = RecordedApi(
        {
            ("GET", "/v2/droplets"): (
                200,
                {
                    "droplets": [{"id": 21, "name": "shop-do-web-0", "status": "active"}],
                    "links": {},
                    "meta": {"total": 1},
                },
            ),
            ("GET", "/v2/firewalls"): (
                200,
                {
                    "firewalls": [
                        {
                            "id": "fw-1",
                            "name": "shop-do-app-x",
                            "droplet_ids": [21],
                            "tags": [],
                            "inbound_rules": rules,
                        },
                        {"id": "fw-2", "name": "other", "droplet_ids": [99], "tags": [], "inbound_rules": rules},
                    ],
                    "links": {},
                },
            ),
            ("POST", "/v2/droplets/21/actions"): (
                201,
                {"action": {"id": 5, "type": "power_off", "status": "in-progress"}},
            ),
            ("DELETE", "/v2/firewalls/fw-1/rules"): (204, None),
        }
    )
    result = terminate(spec, "do", spec.target("do"), transport=httpx.MockTransport(api.handler))
    calls = [(m, p, b) for m, p, b, _ in api.requests]
    assert ("POST", "/v2/droplets/21/actions", {"type": "power_off"}) in calls
    assert ("DELETE", "/v2/firewalls/fw-1/rules", {"inbound_rules": rules}) in calls
    assert not any(p == "/v2/firewalls/fw-2/rules" for _, p, _ in calls)
    droplet_query = next(r for r in api.requests if r[1] == "/v2/droplets")
    assert droplet_query[3] == "Bearer do-token"
    assert result.stopped == {"droplet:shop-do-web-0": 21, "firewall:shop-do-app-x": "fw-1"}


KUBE_SPEC = shop_spec_text("k: {provider: kubernetes, namespace: shop, kubeconfig: KUBECONFIG_PATH}")


def test_kubernetes_scales_to_zero_and_denies_all_traffic(tmp_path: Any) -> None:
    from providers.kubernetes.terminate import terminate

    labels = "app.kubernetes.io/part-of=shop,app.kubernetes.io/managed-by=migrate,migrate/target=k"
    deployments = {"items": [{"metadata": {"name": "web"}, "spec": {"replicas": 2}}]}
    statefulsets = {"items": [{"metadata": {"name": "postgres"}, "spec": {"replicas": 1}}]}
    scale = {"kind": "Scale", "apiVersion": "autoscaling/v1", "spec": {"replicas": 0}}
    api = RecordedApi(
        {
            ("GET", "/apis/apps/v1/namespaces/shop/deployments"): (200, {"kind": "DeploymentList", **deployments}),
            ("GET", "/apis/apps/v1/namespaces/shop/statefulsets"): (200, {"kind": "StatefulSetList", **statefulsets}),
            ("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web/scale"): (200, scale),
            ("PATCH", "/apis/apps/v1/namespaces/shop/statefulsets/postgres/scale"): (200, scale),
            ("POST", "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies"): (201, {"kind": "NetworkPolicy"}),
        }
    )
    seen_queries: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            seen_queries.append(request.url.params["labelSelector"])
        if request.method == "PATCH":
            assert request.headers["content-type"] == "application/merge-patch+json"
        return api.handler(request)

    spec = parse_spec(KUBE_SPEC.replace("KUBECONFIG_PATH", str(tmp_path / "kubeconfig")), "shop.yaml")
    result = terminate(spec, "k", spec.target("k"), transport=httpx.MockTransport(handler))
    calls = [(m, p, b) for m, p, b, _ in api.requests]
    assert ("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web/scale", {"spec": {"replicas": 0}}) in calls
    assert ("PATCH", "/apis/apps/v1/namespaces/shop/statefulsets/postgres/scale", {"spec": {"replicas": 0}}) in calls
    (policy,) = [b for m, p, b in calls if p.endswith("/networkpolicies")]
    assert policy["spec"] == {
        "podSelector": {"matchLabels": dict(pair.split("=") for pair in labels.split(","))},
        "policyTypes": ["Ingress", "Egress"],
    }
    assert seen_queries == [labels, labels]
    assert set(result.stopped) == {"deployment:web", "statefulset:postgres", "networkpolicy:migrate-terminated"}


def test_kubernetes_reads_server_and_token_from_the_kubeconfig(tmp_path: Any) -> None:
    from providers.kubernetes.terminate import client_from_kubeconfig

    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\ncurrent-context: c\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:6443', insecure-skip-tls-verify: true}}]\n"
        "users: [{name: u, user: {token: abc}}]\n"
    )
    spec = parse_spec(KUBE_SPEC.replace("KUBECONFIG_PATH", str(config)), "shop.yaml")
    client, kept = client_from_kubeconfig(spec.target("k"), "k")
    with client:
        assert str(client.base_url).startswith("https://127.0.0.1:6443")
        assert client.headers["authorization"] == "Bearer abc"
    assert kept == []
    config.write_text(config.read_text().replace("{token: abc}", "{exec: {command: aws}}"))
    from migrate.errors import InputError

    with pytest.raises(InputError, match="plugin"):
        client_from_kubeconfig(spec.target("k"), "k")
