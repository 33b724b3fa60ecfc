"""Read a spec file and report every problem as ``FILE:LINE: field.path: message``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from migrate.errors import SpecError
from migrate.gcpause import paused_gc
from migrate.spec.model import ServiceSpec, cross_check
from migrate.spec.secrets import SPEC_DIR

DEFAULT_SPEC_FILE = "migrate.yaml"

Loc = tuple[str | int, ...]


def load_spec(path: str | Path = DEFAULT_SPEC_FILE) -> ServiceSpec:
    """Load and validate a spec; raise ``SpecError`` listing every problem found."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([f"{path}: no such spec file (use -f/--spec to name one)"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([f"{path}: cannot read: {exc}"]) from None
    spec = parse_spec(text, str(path), spec_dir=path.resolve().parent)
    spec.source_path = path.resolve()
    return spec


def parse_spec(text: str, filename: str, spec_dir: Path | None = None) -> ServiceSpec:
    """``spec_dir``: where relative paths in the spec ({file: …} secrets) are taken from."""
    with paused_gc():  # tens of thousands of nodes, dicts and models, none of them garbage
        return _parse_spec(text, filename, spec_dir)


def _parse_spec(text: str, filename: str, spec_dir: Path | None) -> ServiceSpec:
    document = _parse_yaml(text, filename)
    data = document.data
    if not isinstance(data, dict):
        raise SpecError([f"{filename}:1: the spec must be a mapping of sections (service, dns, …)"])
    try:
        spec = ServiceSpec.model_validate(data, context={SPEC_DIR: spec_dir})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            display, line = _locate(error["loc"], data, document.lines)
            message = error["msg"].removeprefix("Value error, ")
            problems.append(_format(filename, line, display, message))
        raise SpecError(_unique(problems)) from None
    except RecursionError:
        raise SpecError([f"{filename}:1: the spec refers to itself (a recursive YAML alias)"]) from None
    problems = []
    for loc, message in cross_check(spec):
        display, line = _locate(loc, data, document.lines)
        problems.append(_format(filename, line, display, message))
    if problems:
        raise SpecError(problems)
    return spec


def _format(filename: str, line: int, display: str, message: str) -> str:
    return f"{filename}:{line}: {display}: {message}" if display else f"{filename}:{line}: {message}"


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


class _Document:
    """The parsed data, and the line of every key and item, worked out only when an error
    needs one: a spec that owns thousands of DNS records is a big document, and indexing
    its lines cost as much as constructing it."""

    def __init__(self, node: yaml.Node | None, data: Any) -> None:
        self.node = node
        self.data = data
        self._lines: dict[Loc, int] | None = None

    @property
    def lines(self) -> dict[Loc, int]:
        if self._lines is None:
            self._lines = {}
            if self.node is not None:
                _index(self.node, (), self._lines, [], "", set())
        return self._lines


def _parse_yaml(text: str, filename: str) -> _Document:
    """Parse YAML once (libyaml when PyYAML has it); duplicate keys are errors.

    The C parser builds the node tree; ``_Constructor`` turns it into Python data faster than
    PyYAML's constructor (which runs in Python whatever the parser) for the plain shapes a
    spec is made of, and hands anything else (tags, merge keys) to it.
    """
    loader = _SpecLoader(text)
    try:
        node = loader.get_single_node()
        constructor = _Constructor(loader)
        data = constructor.construct(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError([f"{filename}:{line}: invalid YAML: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise SpecError([f"{filename}:1: invalid YAML: {exc}"]) from None
    except RecursionError:
        raise SpecError([f"{filename}:1: the spec refers to itself (a recursive YAML alias)"]) from None
    finally:
        loader.dispose()
    if node is not None and constructor.duplicates:
        duplicates: list[str] = []
        _index(node, (), {}, duplicates, filename, set())
        if duplicates:
            raise SpecError(duplicates)
    return _Document(node, data)


class _SpecLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """PyYAML's safe loader (libyaml's parser when built with it), resolving each distinct
    plain scalar once: a spec owning 9,000 records repeats ``name``, ``type`` and ``A``
    9,000 times, and the parser asks the (Python) resolver about every one."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._resolved: dict[str, str] = {}

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            tag = self._resolved.get(value)
            if tag is None:
                tag = self._resolved[value] = super().resolve(kind, value, implicit)
            return tag
        return str(super().resolve(kind, value, implicit))

    # The safe loader has no path resolvers: nothing to track while descending.
    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
# Scalars whose value PyYAML's constructor works out (ints, booleans, nulls, floats): few in a
# spec, so they go to it. Other tags (binary, timestamp, sets, merge keys …) take its whole path.
_PLAIN_SCALARS = frozenset(
    {"tag:yaml.org,2002:int", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:float"}
)


class _Constructor:
    """Node tree -> dicts, lists and scalars, as ``SafeConstructor`` makes them.

    An alias yields the same object as its anchor, as with PyYAML; an alias inside itself
    is a ``RecursionError`` (the loader reports it). ``duplicates`` is set when a mapping
    repeats a key: the caller then names them with their lines.
    """

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.done: dict[int, Any] = {}
        self.building: set[int] = set()
        self.duplicates = False

    def construct(self, node: yaml.Node) -> Any:
        cls = node.__class__
        tag = node.tag
        if cls is yaml.ScalarNode:
            if tag == _STR:
                return node.value
            if tag in _PLAIN_SCALARS:
                return self.loader.construct_object(node, deep=True)
            return self._fallback(node)
        key = id(node)
        if key in self.done:
            return self.done[key]
        if key in self.building:
            raise RecursionError("a YAML alias refers to a node containing it")
        self.building.add(key)
        if (
            cls is yaml.MappingNode
            and tag == _MAP
            and all(
                k.__class__ is yaml.ScalarNode and (k.tag == _STR or k.tag in _PLAIN_SCALARS) for k, _ in node.value
            )
        ):
            construct = self.construct
            value: Any = {construct(k): construct(v) for k, v in node.value}
            if len(value) != len(node.value):
                self.duplicates = True
        elif cls is yaml.SequenceNode and tag == _SEQ:
            value = [self.construct(item) for item in node.value]
        else:
            value = self._fallback(node)
        self.building.discard(key)
        self.done[key] = value
        return value

    def _fallback(self, node: yaml.Node) -> Any:
        return self.loader.construct_object(node, deep=True)


def _index(
    node: yaml.Node,
    loc: Loc,
    lines: dict[Loc, int],
    duplicates: list[str],
    filename: str,
    seen: set[int],
) -> None:
    if id(node) in seen:  # an alias already walked
        return
    seen.add(id(node))
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        keys: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is None:
                continue
            child = (*loc, key)
            if key in keys:
                dotted = ".".join(str(part) for part in child)
                duplicates.append(f"{filename}:{key_node.start_mark.line + 1}: {dotted}: duplicate key")
            keys.add(key)
            lines[child] = key_node.start_mark.line + 1
            _index(value_node, child, lines, duplicates, filename, seen)
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            _index(item, (*loc, position), lines, duplicates, filename, seen)


def _locate(loc: tuple[Any, ...], data: Any, lines: dict[Loc, int]) -> tuple[str, int]:
    """The dotted path as the user wrote it, and the line of its deepest existing part.

    Pydantic's locations include union tags ("local", "function-after[…]"); parts
    that are not in the document are dropped, except a missing or extra last field.
    """
    shown: list[str | int] = []
    cursor = data
    for position, part in enumerate(loc):
        last = position == len(loc) - 1
        in_dict = isinstance(cursor, dict) and part in cursor
        in_list = isinstance(cursor, list) and isinstance(part, int) and 0 <= part < len(cursor)
        if in_dict or in_list:
            cursor = cursor[part]
            shown.append(part)
        elif last and isinstance(part, str) and "[" not in part and isinstance(cursor, dict):
            shown.append(part)
    line = 1
    for cut in range(len(shown), -1, -1):
        prefix = tuple(shown[:cut])
        if prefix in lines:
            line = lines[prefix]
            break
    return ".".join(str(part) for part in shown), line
