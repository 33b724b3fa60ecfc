"""Write a run's report as JSON, JUnit XML and HTML into one directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from migrate.private_files import make_private_dir, write_private_file
from migrate.redact import redact
from migrate.report.document import build
from migrate.report.html import to_html
from migrate.report.junit import to_junit
from migrate.runbook.journal import RunJournal

DEFAULT_DIR = Path("reports")


def write_reports(journal: RunJournal, directory: Path = DEFAULT_DIR) -> tuple[dict[str, Any], dict[str, Path]]:
    """Build the report from the journal and write it; return it and the files written."""
    report = build(journal)
    out = directory / report["run_id"]
    make_private_dir(out)  # 0700, files 0600: CI uploads them; nobody else on the host needs them
    files = {"json": out / "report.json", "junit": out / "junit.xml", "html": out / "report.html"}
    report["files"] = {kind: str(path) for kind, path in files.items()}
    write_private_file(files["json"], redact(json.dumps(report, indent=2)) + "\n")
    write_private_file(files["junit"], redact(to_junit(report)))
    write_private_file(files["html"], redact(to_html(report)))
    return report, files
