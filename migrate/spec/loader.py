"""Read a spec file and report every problem as ``FILE:LINE: field.path: message``."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from migrate.errors import InputError, SpecError
from migrate.gcpause import paused_gc
from migrate.inputfiles import SPEC_LIMIT, decode_utf8, read_input_file, shown
from migrate.spec.inline import inline_secret_problems
from migrate.spec.model import ServiceSpec, cross_check
from migrate.spec.secrets import SPEC_DIR

DEFAULT_SPEC_FILE = "migrate.yaml"

Loc = tuple[str | int, ...]


def load_spec(path: str | Path = DEFAULT_SPEC_FILE) -> ServiceSpec:
    """Load and validate a spec; raise ``SpecError`` listing every problem found."""
    path = Path(path)
    try:
        data = read_input_file(path, SPEC_LIMIT, "spec file")
        text = decode_utf8(data, shown(path, 200), "spec file")
    except InputError as exc:
        message = str(exc)
        if not os.path.lexists(path):
            message += " (use -f/--spec to name one)"
        raise SpecError([message]) from None
    spec = parse_spec(text, str(path), spec_dir=path.resolve().parent)
    spec.source_path = path.resolve()
    return spec


MAX_PROBLEMS = 50


def parse_spec(text: str, filename: str, spec_dir: Path | None = None) -> ServiceSpec:
    """``spec_dir``: where relative paths in the spec ({file: …} secrets) are taken from."""
    filename = shown(filename, 200)
    with paused_gc():  # tens of thousands of nodes, dicts and models, none of them garbage
        return _parse_spec(text, filename, spec_dir)


def _parse_spec(text: str, filename: str, spec_dir: Path | None) -> ServiceSpec:
    document = _parse_yaml(text, filename)
    data = document.data
    if not isinstance(data, dict):
        raise SpecError([f"{filename}:1: the spec must be a mapping of sections (service, dns, …)"])
    if not any(isinstance(key, str) and key in ServiceSpec.model_fields for key in data):
        # e.g. /etc/shadow given by mistake: its lines would be "unknown keys"; name none of them
        raise SpecError(
            [f"{filename}:1: not a migrate spec (it has none of the sections service, processes, dns, targets)"]
        )
    _check_big_collections(data, document, filename)
    try:
        # strict: "3", 2.0 and true are not integers; a typo must not quietly become a number
        spec = ServiceSpec.model_validate(data, strict=True, context={SPEC_DIR: spec_dir})
    except ValidationError as exc:
        problems: list[str] = []
        errors = exc.errors(include_url=False, include_input=False)
        for count, error in enumerate(errors):
            if len(problems) >= MAX_PROBLEMS:  # enough to act on; the rest are counted, not formatted
                problems.append(f"{filename}: … and {len(errors) - count} more problems")
                break
            loc = error["loc"]
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown field"
                if loc and not _FIELD_NAME.fullmatch(str(loc[-1])):
                    # a key that is no field name may be a line of someone's secrets file: not shown
                    display, line = _locate(loc[:-1], data, document.lines)
                    line = _key_line(loc, document.lines, line)
                    problems.append(
                        _format(filename, line, display, "an unknown key (not shown: it is not a field name)")
                    )
                    continue
            display, line = _locate(loc, data, document.lines)
            problem = _format(filename, line, display, message)
            if problem not in problems:
                problems.append(problem)
        raise SpecError(problems) from None
    except RecursionError:
        raise SpecError([f"{filename}:1: the spec refers to itself (a recursive YAML alias)"]) from None
    problems = []
    for loc, message in [*cross_check(spec), *inline_secret_problems(data)]:
        display, line = _locate(loc, data, document.lines)
        problems.append(_format(filename, line, display, message))
    if problems:
        raise SpecError(_capped(problems, filename))
    return spec


_FIELD_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
# A key shown in a field path: a name, not a line of someone's secrets file pasted in.
_SHOWN_KEY = re.compile(r"[A-Za-z0-9_@*.=+/-]{1,64}")


def _dotted(parts: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) if isinstance(p, int) or _SHOWN_KEY.fullmatch(str(p)) else "<key>" for p in parts)


def _key_line(loc: tuple[Any, ...], lines: dict[Loc, int], default: int) -> int:
    """The line of the key at ``loc`` (the index has it even where the display drops it)."""
    return lines.get(tuple(loc), default)


BIG_COLLECTION = 500  # items; below this a collection is validated with the rest
_CHUNK = 250


def _big_collections(data: dict[Any, Any]) -> list[tuple[Loc, Any, Any]]:
    """(path, value, type) of each large list or mapping of the spec (dns.records above all)."""
    from migrate.spec.model import DnsSpec

    found: list[tuple[Loc, Any, Any]] = []
    dns = data.get("dns")
    if isinstance(dns, dict) and isinstance(dns.get("records"), list) and len(dns["records"]) > BIG_COLLECTION:
        found.append((("dns", "records"), dns["records"], DnsSpec.model_fields["records"].annotation))
    for key, field in ServiceSpec.model_fields.items():
        value = data.get(key)
        if isinstance(value, dict | list) and len(value) > BIG_COLLECTION:
            found.append(((key,), value, field.annotation))
    return found


def _check_big_collections(data: dict[Any, Any], document: _Document, filename: str) -> None:
    """Validate a large collection a chunk at a time and stop at ``MAX_PROBLEMS``: a spec of
    100,000 bad records must not build 300,000 error objects (seconds and gigabytes) to show 50."""
    from pydantic import TypeAdapter

    problems: list[str] = []
    for loc, value, annotation in _big_collections(data):
        adapter: TypeAdapter[Any] = TypeAdapter(annotation)
        items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
        for start in range(0, len(items), _CHUNK):
            chunk_items = items[start : start + _CHUNK]
            chunk: Any = dict(chunk_items) if isinstance(value, dict) else [item for _, item in chunk_items]
            try:
                adapter.validate_python(chunk, strict=True)
            except ValidationError as exc:
                for error in exc.errors(include_url=False, include_input=False):
                    inner = list(error["loc"])
                    if inner and isinstance(value, list) and isinstance(inner[0], int):
                        inner[0] += start
                    display, line = _locate((*loc, *inner), data, document.lines)
                    problem = _format(filename, line, display, error["msg"].removeprefix("Value error, "))
                    if problem not in problems:
                        problems.append(problem)
                    if len(problems) >= MAX_PROBLEMS:
                        problems.append(f"{filename}: … and more problems (stopped at {MAX_PROBLEMS})")
                        raise SpecError(problems) from None
    if problems:
        raise SpecError(problems)


def _format(filename: str, line: int, display: str, message: str) -> str:
    """One problem line; the field and message escaped, so no key can forge a second line."""
    display = shown(display, 120)
    message = shown(message, 300)
    return f"{filename}:{line}: {display}: {message}" if display else f"{filename}:{line}: {message}"


def _capped(problems: list[str], filename: str) -> list[str]:
    """The first problems, and how many more: a hostile spec must not make a megabyte of errors."""
    if len(problems) <= MAX_PROBLEMS:
        return problems
    return [*problems[:MAX_PROBLEMS], f"{filename}: … and {len(problems) - MAX_PROBLEMS} more problems"]


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
        raise SpecError([f"{filename}:{line}: invalid YAML: {shown(problem, 200)}"]) from None
    except yaml.YAMLError as exc:
        raise SpecError([f"{filename}:1: invalid YAML: {shown(exc, 200)}"]) from None
    except RecursionError:
        raise SpecError([f"{filename}:1: the spec refers to itself (a recursive YAML alias)"]) from None
    finally:
        loader.dispose()
    if node is not None and constructor.bad_scalars:
        raise SpecError(_capped(_bad_scalar_problems(node, constructor.bad_scalars, filename), filename))
    if node is not None and constructor.duplicates:
        duplicates: list[str] = []
        _index(node, (), {}, duplicates, filename, set())
        if duplicates:
            raise SpecError(_capped(duplicates, filename))
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
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_MERGE = "tag:yaml.org,2002:merge"
MAX_INT_DIGITS = 18  # every integer a spec holds fits in 64 bits
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
        # scalars no spec field can hold (a 5,000-digit integer, .inf): id(node) -> why
        self.bad_scalars: dict[int, str] = {}

    def construct(self, node: yaml.Node) -> Any:
        cls = node.__class__
        tag = node.tag
        if cls is yaml.ScalarNode:
            if tag == _STR:
                return node.value
            if tag in _PLAIN_SCALARS:
                return self._plain_scalar(node, tag)
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
            if cls is yaml.MappingNode:
                self._note_duplicate_keys(node)
            value = self._fallback(node)
        self.building.discard(key)
        self.done[key] = value
        return value

    def _fallback(self, node: yaml.Node) -> Any:
        return self.loader.construct_object(node, deep=True)

    def _plain_scalar(self, node: yaml.Node, tag: str) -> Any:
        if tag == _INT and len(node.value.lstrip("+-").lstrip("0").replace("_", "")) > MAX_INT_DIGITS:
            self.bad_scalars[id(node)] = f"integer too large (more than {MAX_INT_DIGITS} digits)"
            return 0
        value = self.loader.construct_object(node, deep=True)
        if tag == _FLOAT and isinstance(value, float) and not math.isfinite(value):
            self.bad_scalars[id(node)] = "not a finite number"
            return 0.0
        return value

    def _note_duplicate_keys(self, node: yaml.Node) -> None:
        """A mapping PyYAML builds (it has a ``<<:`` merge key or tags): PyYAML lets the last
        of two equal keys win, so look for them here; keys merged in may be overridden."""
        keys = [k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode) and k.tag != _MERGE]
        if len(keys) != len(set(keys)):
            self.duplicates = True


def _bad_scalar_problems(root: yaml.Node, bad: dict[int, str], filename: str) -> list[str]:
    """``FILE:LINE: field: message`` for each scalar the constructor refused."""
    problems: list[str] = []
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, Loc]] = [(root, ())]
    while stack:
        node, loc = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if id(node) in bad:
            problems.append(_format(filename, node.start_mark.line + 1, _dotted(loc), bad[id(node)]))
        elif isinstance(node, yaml.MappingNode):
            for key_node, value_node in reversed(node.value):
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
                if id(key_node) in bad:
                    stack.append((key_node, loc))
                stack.append((value_node, (*loc, key)))
        elif isinstance(node, yaml.SequenceNode):
            for position in range(len(node.value) - 1, -1, -1):
                stack.append((node.value[position], (*loc, position)))
    problems.sort(key=lambda p: int(p[len(filename) + 1 :].split(":", 1)[0]))
    return problems


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
                dotted = _dotted(child)
                duplicates.append(_format(filename, key_node.start_mark.line + 1, dotted, "duplicate key"))
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
    return _dotted(shown), line
