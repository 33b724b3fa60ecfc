"""The service spec: one YAML file that describes a social app once, for every provider.

The names below load lazily: ``migrate.spec.secrets`` (secret references) sits below the
providers' settings, which the spec model in turn validates against, so importing the
package must not pull the model in by itself (that was an import cycle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from migrate.spec.loader import DEFAULT_SPEC_FILE, load_spec
    from migrate.spec.model import ServiceSpec

__all__ = ["DEFAULT_SPEC_FILE", "ServiceSpec", "load_spec"]


def __getattr__(name: str) -> Any:
    if name in ("DEFAULT_SPEC_FILE", "load_spec"):
        from migrate.spec import loader

        return getattr(loader, name)
    if name == "ServiceSpec":
        from migrate.spec.model import ServiceSpec

        return ServiceSpec
    raise AttributeError(name)
