"""Run an adapter's Pulumi program under Pulumi's unit-test mocks and record everything.

The program runs inside ``pulumi.runtime.test``; the harness itself returns the Output
it waits on (all exported outputs), so no assertion hides inside an ``apply`` that never
runs: tests get plain Python data (resources with their inputs, resolved outputs, which
of them are secret) and assert on it directly.

Mocks accept any inputs, so ``sdk_problems`` checks every recorded input against the
provider SDK's own input types: argument names (the wire names the SDK declares with
``pulumi.getter``) and required arguments, recursively through nested input types.
"""

from __future__ import annotations

import importlib
import inspect
import typing
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import rpc

SECRET_KEY = rpc._special_sig_key
SECRET_SIG = rpc._special_secret_sig


@dataclass
class Recorded:
    typ: str
    name: str
    inputs: dict[str, Any]
    provider: str | None = None
    id: str = ""

    @property
    def plain(self) -> dict[str, Any]:
        """Inputs with Pulumi's secret wrappers removed."""
        return unwrap(self.inputs)

    def secret_paths(self) -> set[str]:
        return set(_secret_paths(self.inputs, ""))


@dataclass
class Deployment:
    resources: list[Recorded] = field(default_factory=list)
    invokes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)

    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str) -> Recorded:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected one {typ}, found {[r.name for r in found]}"
        return found[0]

    def by_id(self, resource_id: Any) -> Recorded:
        if isinstance(resource_id, float) and resource_id.is_integer():
            resource_id = int(resource_id)  # numbers cross the mock monitor as floats
        found = [r for r in self.resources if r.id == str(resource_id)]
        assert found, f"no resource has id {resource_id!r}"
        return found[0]

    def named(self, name: str, typ: str | None = None) -> Recorded:
        found = [r for r in self.resources if r.name == name and typ in (None, r.typ)]
        assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
        return found[0]

    def types(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.resources:
            counts[r.typ] = counts.get(r.typ, 0) + 1
        return counts


def unwrap(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(SECRET_KEY) == SECRET_SIG:
            return unwrap(value.get("value"))
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def _secret_paths(value: Any, path: str) -> typing.Iterator[str]:
    if isinstance(value, dict):
        if value.get(SECRET_KEY) == SECRET_SIG:
            yield path or "."
            return
        for k, v in value.items():
            yield from _secret_paths(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _secret_paths(v, f"{path}[{i}]")


class RecordingMocks(pulumi.runtime.Mocks):
    """Returns inputs as state plus the few computed attributes programs read."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        # Hetzner and DigitalOcean droplets have numeric ids; programs convert them.
        numeric = args.typ.startswith("hcloud:") or args.typ == "digitalocean:index/droplet:Droplet"
        resource_id = str(1000 + len(self.deployment.resources)) if numeric else f"{args.name}-id"
        self.deployment.resources.append(Recorded(args.typ, args.name, dict(args.inputs), args.provider, resource_id))
        state = dict(args.inputs)
        state.update(computed_state(args.typ, args.name, unwrap(dict(args.inputs))))
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> Any:
        self.deployment.invokes.append((args.token, dict(args.args)))
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"names": ["us-west-2a", "us-west-2b", "us-west-2c"], "zoneIds": []}
        return {}


def computed_state(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Attributes the provider computes; shaped like the real provider's."""
    table: dict[str, dict[str, Any]] = {
        "random:index/randomPassword:RandomPassword": {"result": f"pw-{name}-0123456789"},
        "pulumi-python:dynamic/vps:GeneratedSecret": {"result": f"pw-{name}-0123456789"},
        "aws:lb/loadBalancer:LoadBalancer": {
            "dnsName": f"{name}.us-west-2.elb.amazonaws.com",
            "arn": f"arn:aws:elasticloadbalancing:::{name}",
        },
        "aws:rds/instance:Instance": {"address": f"{name}.rds.amazonaws.com", "port": 5432},
        "aws:elasticache/replicationGroup:ReplicationGroup": {"primaryEndpointAddress": f"{name}.cache.amazonaws.com"},
        "aws:iam/accessKey:AccessKey": {"secret": f"secret-{name}"},
        "aws:s3/bucket:Bucket": {
            "bucket": inputs.get("bucket") or f"{inputs.get('bucketPrefix', name)}abc123",
            "arn": f"arn:aws:s3:::{name}",
        },
        "hcloud:index/server:Server": {"ipv4Address": "198.51.100.10"},
        "hcloud:index/loadBalancer:LoadBalancer": {"ipv4": "198.51.100.2"},
        "digitalocean:index/loadBalancer:LoadBalancer": {"ip": "198.51.100.3"},
        "digitalocean:index/databaseCluster:DatabaseCluster": {
            "privateHost": f"private-{name}.db.ondigitalocean.com",
            "port": 25060,
            "host": f"{name}.db.ondigitalocean.com",
            "password": "cluster-pw",
        },
        "digitalocean:index/databaseUser:DatabaseUser": {"password": f"pw-{name}"},
        "digitalocean:index/spacesKey:SpacesKey": {
            "accessKey": "DO00KEY",
            "secretKey": "do-secret",
        },
        "digitalocean:index/spacesBucket:SpacesBucket": {"bucketDomainName": "x"},
        "kubernetes:core/v1:Service": {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.4"}]}}},
        "kubernetes:networking.k8s.io/v1:Ingress": {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.5"}]}}},
    }
    state = dict(table.get(typ, {}))
    state.setdefault("name", inputs.get("name") or name)  # what auto-naming gives
    if typ.startswith("aws:") and "arn" not in state:
        state["arn"] = f"arn:aws:::{typ.split(':')[-1].lower()}/{name}"
    return state


_ROOT_STACK_READY = False


def run_program(program: typing.Callable[[], None]) -> Deployment:
    """Run ``program`` under mocks; return what it created and what it exported."""
    deployment = Deployment()
    pulumi.runtime.set_mocks(RecordingMocks(deployment), project="migrate", stack="test", preview=False)
    root = pulumi.runtime.get_root_resource()
    outputs = root.outputs  # type: ignore[union-attr]
    outputs.clear()

    @pulumi.runtime.test
    def body() -> pulumi.Output[Any]:
        program()
        names = list(outputs)

        async def settle() -> None:
            for key in names:
                value = pulumi.Output.from_input(outputs[key])
                deployment.outputs[key] = await value.future()
                if await value.is_secret():
                    deployment.secret_outputs.add(key)

        # The returned Output is what the test decorator awaits: every export resolves.
        import asyncio

        return pulumi.Output.from_input(asyncio.ensure_future(settle()))

    body()
    return deployment


# ---------------------------------------------------------------------------------------------
# Checking inputs against the provider SDKs


def _args_class_for(typ: str) -> type | None:
    package, module, cls = typ.split(":")
    if package == "pulumi" and module == "providers":
        return getattr(importlib.import_module(f"pulumi_{cls}"), "ProviderArgs", None)
    if package == "kubernetes":
        group, version = module.rsplit("/", 1)
        group = {"core": "core", "apps": "apps"}.get(group, group.split(".")[0])
        module_path = f"pulumi_kubernetes.{group}.{version}"
    else:
        sub = module.split("/")[0]
        module_path = f"pulumi_{package}" + ("" if sub == "index" else f".{sub}")
    resource_cls = getattr(importlib.import_module(module_path), cls)
    # The resource's own module: a package may reuse the name for a nested input type.
    # (then its resource args are named ``<Class>InitArgs``).
    home = importlib.import_module(resource_cls.__module__)
    return getattr(home, f"{cls}InitArgs", None) or getattr(home, f"{cls}Args", None)


def _wire_names(args_cls: type) -> dict[str, tuple[str, Any]]:
    """wire name -> (python name, property) for an SDK input type."""
    names: dict[str, tuple[str, Any]] = {}
    for klass in reversed(args_cls.__mro__):
        for python_name, prop in vars(klass).items():
            if isinstance(prop, property) and prop.fget is not None:
                wire = getattr(prop.fget, "_pulumi_name", None)
                if wire:
                    names[wire] = (python_name, prop)
    return names


def _required(args_cls: type) -> set[str]:
    sig = inspect.signature(args_cls.__init__)  # type: ignore[misc]
    return {
        p.name
        for p in list(sig.parameters.values())[1:]
        if p.default is inspect.Parameter.empty and p.kind is p.KEYWORD_ONLY
    }


def _nested_input_type(prop: Any, module: Any) -> type | None:
    """The SDK input type a property holds (itself, or as list/dict element), if any."""
    try:
        hints = typing.get_type_hints(prop.fget, globalns=vars(module), localns=vars(module))
    except Exception:
        return None
    found: list[type] = []

    def walk(tp: Any) -> None:
        if isinstance(tp, type) and getattr(tp, "_pulumi_input_type", False):
            found.append(tp)
            return
        for arg in typing.get_args(tp):
            walk(arg)

    walk(hints.get("return"))
    return found[0] if len(set(found)) == 1 else None


def _check(value: Any, args_cls: type, path: str, problems: list[str]) -> None:
    value = unwrap(value)
    if not isinstance(value, dict):
        return
    wire = _wire_names(args_cls)
    python_to_wire = {py: w for w, (py, _) in wire.items()}
    for key in value:
        if key not in wire:
            problems.append(f"{path}: unknown argument {key!r} for {args_cls.__name__}")
    for py in _required(args_cls):
        w = python_to_wire.get(py, py)
        if value.get(w) is None:
            problems.append(f"{path}: missing required argument {w!r} of {args_cls.__name__}")
    module = importlib.import_module(args_cls.__module__)
    for key, item in value.items():
        if key not in wire or item is None:
            continue
        nested = _nested_input_type(wire[key][1], module)
        if nested is None:
            continue
        if isinstance(item, list):
            for i, element in enumerate(item):
                _check(element, nested, f"{path}.{key}[{i}]", problems)
        elif isinstance(item, dict) and set(item) <= set(_wire_names(nested)) | {
            SECRET_KEY,
            "value",
        }:
            _check(item, nested, f"{path}.{key}", problems)
        elif isinstance(item, dict):
            # A map of input types (e.g. labels are plain maps): check as one object only
            # when it looks like one; a plain map has no input type to check against.
            _check(item, nested, f"{path}.{key}", problems)


def sdk_problems(deployment: Deployment) -> list[str]:
    """Every input that the provider's SDK would not accept: unknown names, missing required."""
    problems: list[str] = []
    for r in deployment.resources:
        if r.typ.startswith("pulumi-python:dynamic"):
            continue  # a dynamic resource of this repository: tests/vps runs it for real
        if r.typ.startswith("migrate:"):
            continue  # the stack's own ComponentResources: no provider SDK behind them
        args_cls = _args_class_for(r.typ)
        if args_cls is None:
            problems.append(f"{r.typ} {r.name}: no SDK input type found")
            continue
        _check(r.inputs, args_cls, f"{r.typ}({r.name})", problems)
    return problems
