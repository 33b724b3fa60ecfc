"""The resource side of our dynamic resources (the sandbox's and the vps stack's): what a stack
constructs. Its props are the inputs, as given, and the outputs it declares; the provider
(``base``) does the work."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypedDict

import pulumi
from pulumi.dynamic import Resource, ResourceProvider


class DynamicResource(Resource):
    """One of our dynamic resources, made by ``provider_type``. Its props are the inputs given
    and each output it declares (an attribute annotated ``pulumi.Output[...]``), empty until
    the provider fills it in; ``secret_outputs`` are kept encrypted in the state."""

    provider_type: ClassVar[type[ResourceProvider]]
    secret_outputs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str, inputs: Mapping[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        annotations = vars(type(self)).get("__annotations__", {})
        declared = [
            key
            for key, hint in annotations.items()
            if str(hint).startswith(("pulumi.Output[", "pulumi.output.Output["))
        ]
        props = {**inputs, **{key: None for key in declared if key not in inputs}}
        if self.secret_outputs:
            secret = pulumi.ResourceOptions(additional_secret_outputs=list(self.secret_outputs))
            opts = pulumi.ResourceOptions.merge(opts, secret)
        super().__init__(self.provider_type(), name, props, opts)


class ServerInputs(TypedDict):
    """What every server resource is given: the target's sandbox and the address it listens on."""

    sandbox_dir: pulumi.Input[str]
    host: str
    port: int
