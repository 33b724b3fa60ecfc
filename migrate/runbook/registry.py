"""The step registry: the names runbooks use, mapped to Python callables.

An action is ``fn(ctx, **arguments) -> dict | None``; what it returns is its outputs,
journaled and handed to later steps as ``ctx.results[step_id]``. Actions must be safe to run
again after an interruption (an interrupted step is re-run on resume). A check or
precondition is ``fn(ctx, **arguments) -> bool | (bool, detail)``.

A *describer*, registered next to an action, is ``fn(ctx, **arguments) -> dict``: what the
step would do, for ``--dry-run``. It reads state (the spec, a stack's outputs) and changes
nothing: no engine run, no write, no DNS update, no process started.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

from migrate.errors import InputError

Action = Callable[..., Any]
Describer = Callable[..., dict[str, Any]]
_ACTIONS: dict[str, Action] = {}
_DESCRIBERS: dict[str, Describer] = {}
# Modules that register the product's actions; imported on first lookup (keeps --help fast).
BUILTIN_MODULES = (
    "migrate.failover.actions",
    "migrate.failover.drill_actions",
    "migrate.failover.preflight",
    "migrate.failover.warm",
)
_loaded = False
_loading = threading.RLock()  # an action module may look another up while it is imported


def action(name: str, describe: Describer | None = None) -> Callable[[Action], Action]:
    """Decorator: register ``fn`` under ``name`` (later registrations win, for plug-ins), and
    ``describe`` as its describer if given. A plug-in replacing an action without a describer
    drops the old one: a plan must describe the action that would run."""

    def decorate(fn: Action) -> Action:
        _ACTIONS[name] = fn
        if describe is None:
            _DESCRIBERS.pop(name, None)
        else:
            _DESCRIBERS[name] = describe
        return fn

    return decorate


def load_modules(modules: list[str] | tuple[str, ...]) -> None:
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise InputError(f"runbook imports {module!r}, which cannot be imported: {exc}") from None


def load_for(imports: list[str] | tuple[str, ...]) -> None:
    """Before a runbook's steps are looked up: the built-in actions, then the runbook's own
    modules (so that their registrations win, and no step thread ever loads a module)."""
    _ensure_builtins()
    load_modules(imports)


def _ensure_builtins() -> None:
    """Steps run in threads at the same time: the first lookup loads the actions while any
    other waits (marking them loaded before they are would let a lookup miss one)."""
    global _loaded
    with _loading:
        if not _loaded:
            load_modules(BUILTIN_MODULES)
            _loaded = True


def lookup(name: str) -> Action:
    _ensure_builtins()
    try:
        return _ACTIONS[name]
    except KeyError:
        raise InputError(f"no action named {name!r} is registered") from None


def describer(name: str) -> Describer | None:
    """The describer of the action ``name``, or None if it has none (the name must be registered)."""
    lookup(name)
    return _DESCRIBERS.get(name)


def names() -> list[str]:
    _ensure_builtins()
    return sorted(_ACTIONS)
