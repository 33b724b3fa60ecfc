"""Inline secrets and unsafe names in a spec, found by name and by shape.

The spec says where a secret lives (``{env: VAR}`` or ``{file: PATH}``), never the secret.
These checks are plain functions over the parsed document, so that any section (present
or added later) gets them: every string anywhere is checked for a credential's shape, and
every ``env:`` mapping at any level for names that are secrets, invalid or reserved.
Messages name the field, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

Loc = tuple[str | int, ...]

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")

# Names whose value is a credential. Matched on the name's words (split on "_"), so that
# DB_PASS and MYSQL_PWD match but PASSENGER_COUNT and KEYBOARD_LAYOUT do not.
SECRET_WORDS = frozenset(
    {
        "PASSWORD",
        "PASSWD",
        "PASS",
        "PWD",
        "PASSPHRASE",
        "SECRET",
        "SECRETS",
        "TOKEN",
        "TOKENS",
        "CREDENTIAL",
        "CREDENTIALS",
        "CREDS",
        "AUTH",
        "DSN",
        "APIKEY",
        "JWT",
        "COOKIE",
        "PRIVATE",
    }
)
# ..._KEY is a secret after these words (API_KEY, SIGNING_KEY, JWT_KEY ...), not after others (CACHE_KEY).
KEY_QUALIFIERS = frozenset(
    {
        "API",
        "ACCESS",
        "PRIVATE",
        "SIGNING",
        "SECRET",
        "JWT",
        "ENCRYPTION",
        "MASTER",
        "HMAC",
        "SESSION",
        "CLIENT",
        "AUTH",
    }
)
SECRET_SUBSTRINGS = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_?KEY|API_?KEY|ACCESS_?KEY|CREDENTIAL", re.I)

# Names migrate, its engine or the dynamic loader act on: a spec setting them would steer them.
RESERVED_NAMES = frozenset(
    {
        "PATH",
        "IFS",
        "ENV",
        "BASH_ENV",
        "SHELLOPTS",
        "PS4",
        "GCONV_PATH",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSTARTUP",
        "PYTHONINSPECT",
        "NODE_OPTIONS",
        "PERL5OPT",
        "RUBYOPT",
    }
)
RESERVED_PREFIXES = ("LD_", "PULUMI_", "MIGRATE_")

_URL_USERINFO = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]*:[^@/\s]+@", re.I)
# user:password@registry.example/... : an image or address with a login before the host
_REGISTRY_LOGIN = re.compile(
    r"(?:^|[\s=\"'])(?!(?:mailto|sip|sips|tel|xmpp):)[^\s/:@\"'=;]+:[^\s/@\"']+@[a-z0-9-]+(?:\.[a-z0-9-]+)+(?::\d+)?(?:/|$)",
    re.I,
)
_SECRET_ARGUMENT = re.compile(
    r"(?:^|\s)--?(?:[a-z0-9]+[-_])*(?:password|passwd|pass|pwd|passphrase|token|secret|api[-_]?key|"
    r"access[-_]?key|auth|credentials?|creds)(?:=|\s+)(?![-\s$])\S",
    re.I,
)
_KNOWN_TOKENS = re.compile(
    r"AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|"
    r"xox[abposr]-[A-Za-z0-9-]{10,}|glpat-[A-Za-z0-9_-]{20,}|sk_live_[A-Za-z0-9]{16,}|"
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.",
)


def name_looks_secret(name: str) -> bool:
    """Whether an environment variable of this name holds a credential."""
    upper = name.upper()
    if SECRET_SUBSTRINGS.search(upper):
        return True
    words = [word for word in re.split(r"[^A-Z0-9]+", upper) if word]
    if any(word in SECRET_WORDS for word in words):
        return True
    return any(word == "KEY" and index > 0 and words[index - 1] in KEY_QUALIFIERS for index, word in enumerate(words))


def secret_shape(value: str) -> str | None:
    """What about ``value`` looks like a credential (None if nothing does); never the value."""
    if "://" in value and _URL_USERINFO.search(value):
        return "a URL with a password in it"
    if "@" in value and _REGISTRY_LOGIN.search(value):
        return "registry credentials (user:password@host)"
    if "-" in value and _SECRET_ARGUMENT.search(value):
        return "a password or token given as an argument"
    if _KNOWN_TOKENS.search(value):
        return "a credential (a known token or key format)"
    return None


def env_name_problem(name: Any) -> str | None:
    """Why ``name`` cannot be an environment variable set by the spec (None if it can)."""
    if not isinstance(name, str) or not ENV_NAME.fullmatch(name):
        return "not a valid environment variable name (letters, digits and _, not starting with a digit)"
    upper = name.upper()
    if upper in RESERVED_NAMES or upper.startswith(RESERVED_PREFIXES):
        return "a name migrate, its engine or the system loader uses; choose another"
    return None


def reference_name_problem(name: str) -> str | None:
    """Why ``{env: name}`` is not a usable reference: a variable name, not a key pasted in."""
    if not ENV_NAME.fullmatch(name):
        return "not a valid environment variable name (an {env:} reference names a variable, not a value)"
    mixed = all(re.search(chars, name) for chars in ("[a-z]", "[A-Z]", "[0-9]"))
    if len(name) >= 16 and "_" not in name and mixed:
        return "looks like a key rather than a variable name; give {env: VAR_NAME} or {file: PATH}"
    return None


def inline_secret_problems(data: Any) -> list[tuple[Loc, str]]:
    """Every inline credential and bad ``env:`` name in a parsed spec, as (field path, message)."""
    problems: list[tuple[Loc, str]] = []
    for loc, value in _walk(data, ()):
        if loc and loc[-1] == "env" and isinstance(value, dict):
            problems.extend(env_mapping_problems(value, loc))
        elif isinstance(value, str):
            shape = secret_shape(value)
            if shape:
                problems.append(
                    (loc, f"{shape} written inline; give it as a reference: {{env: VAR}} or {{file: PATH}}")
                )
    return problems


def env_mapping_problems(env: dict[Any, Any], loc: Loc) -> list[tuple[Loc, str]]:
    """Problems of one ``env:`` mapping: invalid or reserved names, secrets set inline."""
    problems: list[tuple[Loc, str]] = []
    for name, value in env.items():
        where = (*loc, name)
        problem = env_name_problem(name)
        if problem:
            problems.append((where, problem))
        elif isinstance(value, str) and value and name_looks_secret(name) and not _only_output_references(value):
            problems.append((where, "looks like a secret written inline; move it to secrets: as a reference"))
        elif isinstance(value, str) and (shape := secret_shape(value)):
            problems.append((where, f"{shape} written inline; move it to secrets: as a reference"))
    return problems


def _only_output_references(value: str) -> bool:
    """``{db.password}``: a part of the target's outputs, resolved at deploy time, not a secret
    written inline (migrate/spec/envrefs.py)."""
    from migrate.spec.envrefs import REF

    return bool(REF.search(value)) and not re.search(r"[A-Za-z0-9]", REF.sub("", value))


def _walk(value: Any, loc: Loc) -> Iterator[tuple[Loc, Any]]:
    stack: list[tuple[Loc, Any]] = [(loc, value)]
    seen: set[int] = set()
    while stack:
        here, item = stack.pop()
        yield here, item
        if isinstance(item, dict | list):
            if id(item) in seen:  # an alias: walked once
                continue
            seen.add(id(item))
        if isinstance(item, dict):
            if here and here[-1] == "env":
                continue  # names and values checked together by env_mapping_problems
            stack.extend(((*here, key), child) for key, child in item.items() if isinstance(key, str | int))
        elif isinstance(item, list):
            stack.extend(((*here, index), child) for index, child in enumerate(item))
