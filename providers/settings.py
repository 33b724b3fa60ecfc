"""The settings of every provider, as discriminated unions the spec validates against.

Derived from the packages (``providers.registry``): each provider's ``settings.py`` defines
one model whose ``provider`` field is ``Literal["<name>"]``; the unions are built from those,
so adding a provider never means listing it here.
"""

from __future__ import annotations

import importlib
import typing
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import BaseModel, Field

from providers.discovery import discover


def settings_model(name: str) -> type[BaseModel]:
    """The model in ``providers/<name>/settings.py`` tagged ``provider: Literal["<name>"]``."""
    module = importlib.import_module(f"providers.{name}.settings")
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == module.__name__:
            field = value.model_fields.get("provider")
            if field is not None and typing.get_args(field.annotation) == (name,):
                return value
    raise TypeError(f"providers/{name}/settings.py defines no model with provider: Literal[{name!r}]")


def settings_union(kind: str) -> Any:
    """The discriminated union of the settings of every provider of ``kind``."""
    models = tuple(settings_model(name) for name in discover(kind))
    return Annotated[Union[models], Field(discriminator="provider")]  # noqa: UP007 (built at run time)


if TYPE_CHECKING:  # built at run time; to the type checker any provider's settings
    TargetSettings = Any
    DnsProviderSettings = Any
    RegistrarSettings = Any
else:
    TargetSettings = settings_union("hosting")
    DnsProviderSettings = settings_union("dns")
    RegistrarSettings = settings_union("registrar")
