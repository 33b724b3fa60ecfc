"""The environment of every process migrate starts, built explicitly.

The operator's shell holds the state passphrase, the backup key and cloud tokens. A server
migrate starts (Postgres, Redis, the S3 server, DNS servers, the holding page, the drill's
load, pg_dump) needs none of them, and anything it can read (``/proc/<pid>/environ``,
``pg_read_binary_file`` through a superuser URL) must not hold them. So a child gets the
few variables any program needs to run (``BASE_KEYS``) and what its caller names.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

# What a program needs to find its tools and speak the operator's locale; nothing secret.
BASE_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME")
# A migrate child (the media follower) reads stack outputs through the Pulumi engine and the
# spec's own references; the backup key is given only to the commands that use it.
MIGRATE_PREFIXES = ("PULUMI_", "MIGRATE_")
# (The admin URLs carry a superuser's password: only the data commands that run in migrate's
# own process use them.)
NEVER_PASSED = frozenset(
    {
        "MIGRATE_BACKUP_KEY",
        "MIGRATE_BACKUP_S3_ACCESS_KEY",
        "MIGRATE_BACKUP_S3_SECRET_KEY",
        "MIGRATE_FROM_ADMIN_URL",
        "MIGRATE_TO_ADMIN_URL",
    }
)


def child_env(extra: Mapping[str, str] | None = None, *, keep: Iterable[str] = ()) -> dict[str, str]:
    """``BASE_KEYS`` and ``keep`` from this process's environment, then ``extra``."""
    env = {key: os.environ[key] for key in (*BASE_KEYS, *keep) if key in os.environ}
    env.setdefault("PATH", os.defpath)
    if extra:
        env.update(extra)
    return env


def migrate_child_env(extra: Mapping[str, str] | None = None, *, keep: Iterable[str] = ()) -> dict[str, str]:
    """For a process that is migrate itself (the drill's media follower): also the engine's
    variables (passphrase, backend), and the AWS ones when the state lives in S3, never the
    backup key nor other tokens; ``keep`` names any more it needs."""
    names = [key for key in os.environ if key.startswith(MIGRATE_PREFIXES) and key not in NEVER_PASSED]
    if os.environ.get("PULUMI_BACKEND_URL", "").startswith("s3://"):
        names += [key for key in os.environ if key.startswith("AWS_")]
    return child_env(extra, keep=[*names, *keep])
