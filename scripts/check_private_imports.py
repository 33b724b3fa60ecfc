"""Gate: no module imports another module's private names (``from x import _name``).

A leading underscore says "not part of this module's contract"; reaching across that line
is how layers start to leak. Run by scripts/gates; prints ``FILE:LINE: …`` per offence.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGES = ("migrate", "providers", "stacks")


def offences(root: Path) -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                    continue
                if node.module.split(".")[0] not in PACKAGES:
                    continue
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        where = f"{path.relative_to(root)}:{node.lineno}"
                        found.append(f"{where}: imports private {node.module}.{alias.name}")
    return found


if __name__ == "__main__":
    problems = offences(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
    for problem in problems:
        print(problem, file=sys.stderr)
    sys.exit(1 if problems else 0)
