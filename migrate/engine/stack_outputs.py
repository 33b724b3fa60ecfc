"""Read a deployed target's outputs (the shared ``TargetOutputs`` contract) from its stack."""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrate.engine.workspace import EngineOptions, not_deployed, open_stack

if TYPE_CHECKING:
    from migrate.outputs import TargetOutputs
    from migrate.spec.model import ServiceSpec


def load_outputs(spec: ServiceSpec, target: str, *, options: EngineOptions | None = None) -> TargetOutputs:
    """The target's outputs; ``NotDeployedError`` (exit 1, one line) if it has none."""
    from pulumi import automation as auto

    from migrate.engine.errors import engine_error
    from migrate.engine.stack import outputs_from_values
    from migrate.engine.workspace import local_state_missing, read_only_engine

    if local_state_missing((options or EngineOptions()).backend):  # create no state to find none
        raise not_deployed(spec, target)
    with read_only_engine():  # reading outputs writes nothing (no Pulumi log, workspace file)
        stack = open_stack(spec, target, options, create=False)
        try:
            values = {key: value.value for key, value in stack.outputs().items()}
        except auto.CommandError as exc:
            raise engine_error(exc, spec, target) from None
    if not values:
        raise not_deployed(spec, target, stack.workspace)  # type: ignore[arg-type]
    return outputs_from_values(spec, target, values)
