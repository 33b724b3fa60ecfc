"""Apply chirp's schema: ``python -m chirp.migrate_db``. Idempotent; exits 1 if it cannot."""

from __future__ import annotations

import logging
import sys

from .config import ConfigError, Settings, setup_logging
from .db import first_line, wait_and_apply_schema

log = logging.getLogger("chirp.migrate_db")


def main() -> int:
    try:
        settings = Settings.from_env(required=("DATABASE_URL",))
    except ConfigError as exc:
        print(f"chirp.migrate_db: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    try:
        wait_and_apply_schema(settings.database_url, wait_seconds=30)
    except Exception as exc:
        log.error("schema not applied: %s", first_line(exc))
        return 1
    log.info("schema up to date on %s", settings.describe()["database"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
