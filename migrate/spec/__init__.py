"""The service spec: one YAML file that describes a social app once, for every provider."""

from migrate.spec.loader import DEFAULT_SPEC_FILE, load_spec
from migrate.spec.model import ServiceSpec

__all__ = ["DEFAULT_SPEC_FILE", "ServiceSpec", "load_spec"]
