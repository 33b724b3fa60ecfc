"""README's "Where things are" matches the tree: every path it names exists, and every package
and module at the top of migrate/, providers/ and stacks/ is named."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LISTED_IN_FULL = ("migrate", "providers", "stacks")
NOT_LISTED = {"__init__.py", "__pycache__", "py.typed"}
ENTRY = re.compile(r"^(?P<indent> *)(?P<name>[\w./-]+)(?: |$)")
MENTION = re.compile(r"\b([\w/]+\.(?:py|yaml))\b")


def tree_block() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Where things are") :]
    body = section.split("```", 2)[1]
    return [line for line in body.splitlines() if line.strip()]


def named_paths() -> tuple[set[Path], set[Path]]:
    """(entries: the first word of each line, under its parent; mentions: file names in the
    descriptions, under the entry they describe)."""
    entries: set[Path] = set()
    mentions: set[Path] = set()
    parent = ROOT
    current = ROOT
    for line in tree_block():
        match = ENTRY.match(line)
        indent = len(match.group("indent")) if match else 99
        if match and indent in (0, 2):
            if indent == 0:
                parent = ROOT
            current = parent / match.group("name").rstrip("/")
            entries.add(current)
            if indent == 0:
                parent = current
            description = line[match.end() :]
        else:
            description = line
        base = current if current.is_dir() else current.parent
        for mention in MENTION.findall(description):
            if "/" in mention or mention.endswith(".yaml"):
                candidates = [ROOT / mention, base / mention]
            else:
                candidates = [base / mention]
            found = [c for c in candidates if c.exists()]
            mentions.add(found[0] if found else candidates[-1])
    return entries, mentions


def test_every_path_the_readme_names_exists() -> None:
    entries, mentions = named_paths()
    missing = sorted(str(p.relative_to(ROOT)) for p in entries | mentions if not p.exists())
    assert missing == []


def test_every_top_level_module_and_package_is_named() -> None:
    entries, _ = named_paths()
    unnamed = [
        f"{top}/{child.name}"
        for top in LISTED_IN_FULL
        for child in sorted((ROOT / top).iterdir())
        if child.name not in NOT_LISTED and (child.is_dir() or child.suffix == ".py") and child not in entries
    ]
    assert unnamed == []
