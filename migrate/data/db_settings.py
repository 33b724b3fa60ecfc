"""What an app relies on beside its objects: database and role settings, the database's comment,
and its roles' passwords.

pg_dump of one database carries none of these: ``ALTER DATABASE … SET search_path`` (without
which an app's unqualified queries fail), ``ALTER ROLE … SET``, ``COMMENT ON DATABASE``, and
role passwords. Passwords are copied as the SCRAM verifiers Postgres stores (never the clear
text, which no one has), only when the source gives a superuser (``pg_authid``), and only onto
roles that have no password at the destination. What cannot be carried is listed, with what the
operator must do, instead of being dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from migrate.data.endpoints import PgEndpoint
from migrate.data.pgconn import connect
from migrate.errors import MigrateError
from migrate.redact import register_secret

# Settings whose values are lists of identifiers (GUC_LIST_QUOTE): written unquoted, as stored.
LIST_SETTINGS = {"search_path", "temp_tablespaces", "session_preload_libraries", "local_preload_libraries"}
_IDENT_LIST = re.compile(r'^\s*("(?:[^"]|"")*"|[\w$]+)(\s*,\s*("(?:[^"]|"")*"|[\w$]+))*\s*$')


@dataclass
class SourceSettings:
    database: list[str] = field(default_factory=list)  # name=value
    roles: list[tuple[str, bool, str]] = field(default_factory=list)  # role, in this database only, name=value
    comment: str | None = None
    verifiers: dict[str, str] = field(default_factory=dict)
    not_readable: list[str] = field(default_factory=list)


@dataclass
class Carried:
    done: list[str] = field(default_factory=list)
    not_carried: list[str] = field(default_factory=list)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def set_clause(item: str) -> str:
    """``name=value`` as stored in pg_db_role_setting → ``SET name = value`` SQL."""
    name, _, value = item.partition("=")
    if not re.fullmatch(r"[A-Za-z_][\w.]*", name):
        raise MigrateError(f"unexpected setting name {name[:40]!r}")
    if name.lower() in LIST_SETTINGS and _IDENT_LIST.match(value):
        return f"SET {name} = {value}"
    return f"SET {name} = {_literal(value)}"


def read(source: PgEndpoint, roles: list[str], source_admin: PgEndpoint | None) -> SourceSettings:
    found = SourceSettings()
    with connect(source, what="read settings at") as conn:
        oid = conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0]
        for (item,) in conn.execute(
            "SELECT unnest(setconfig) FROM pg_db_role_setting WHERE setrole = 0 AND setdatabase = %s", (oid,)
        ).fetchall():
            found.database.append(item)
        for role, local, item in conn.execute(
            "SELECT r.rolname, s.setdatabase <> 0, unnest(s.setconfig) FROM pg_db_role_setting s "
            "JOIN pg_roles r ON r.oid = s.setrole WHERE s.setdatabase IN (0, %s) AND r.rolname = ANY(%s) ORDER BY 1, 2",
            (oid, roles),
        ).fetchall():
            found.roles.append((role, bool(local), item))
        found.comment = conn.execute("SELECT shobj_description(%s, 'pg_database')", (oid,)).fetchone()[0]
    if source_admin is None:
        found.not_readable = list(roles)
        return found
    with connect(source_admin, what="read role passwords at") as conn:
        superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
        if not superuser:
            found.not_readable = list(roles)
            return found
        for role, verifier in conn.execute(
            "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s) AND rolpassword IS NOT NULL", (roles,)
        ).fetchall():
            register_secret(verifier)
            found.verifiers[role] = verifier
    return found


def apply(dest: PgEndpoint, admin: PgEndpoint | None, found: SourceSettings, login_roles: list[str]) -> Carried:
    """Write the settings, comment and password verifiers at the destination; list what failed."""
    import psycopg

    carried = Carried()
    with connect(admin or dest, what="carry settings to") as conn:
        superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
        database = _ident(dest.database)

        def attempt(sql: str, what: str, hint: str) -> None:
            try:
                conn.execute(sql)
                carried.done.append(what)
            except psycopg.Error as exc:
                detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                carried.not_carried.append(f"{what}: {detail}; {hint}")

        for item in found.database:
            clause = set_clause(item)
            attempt(f"ALTER DATABASE {database} {clause}", f"database setting {item}", f"run ALTER DATABASE … {clause}")
        for role, local, item in found.roles:
            clause = set_clause(item)
            scope = f" IN DATABASE {database}" if local else ""
            attempt(
                f"ALTER ROLE {_ident(role)}{scope} {clause}",
                f"setting {item} of role {role}",
                f"run ALTER ROLE {role}{scope} {clause} as a superuser",
            )
        if found.comment is not None:
            attempt(f"COMMENT ON DATABASE {database} IS {_literal(found.comment)}", "the database comment", "")
        have: dict[str, bool] = {}
        if superuser:
            have = {
                name: bool(has_password)
                for name, has_password in conn.execute(
                    "SELECT rolname, rolpassword IS NOT NULL FROM pg_authid WHERE rolname = ANY(%s)",
                    (list(found.verifiers),),
                ).fetchall()
            }
        for role, verifier in found.verifiers.items():
            if role in (dest.user, (admin or dest).user) or have.get(role, True):
                continue  # its own password at the destination is the one that counts there
            attempt(
                f"ALTER ROLE {_ident(role)} PASSWORD {_literal(verifier)}",
                f"password of role {role}",
                f"set it at the destination: ALTER ROLE {role} PASSWORD …",
            )
        if not superuser:
            missing = [r for r in found.verifiers if r not in (dest.user,)]
            carried.not_carried += [
                f"password of role {r}: the destination gives no superuser to check it is unset; "
                f"set it there: ALTER ROLE {r} PASSWORD …"
                for r in missing
            ]
    for role in found.not_readable:
        if role in login_roles and role != dest.user:
            carried.not_carried.append(
                f"password of login role {role}: the source gives no superuser (pg_authid); set "
                f"MIGRATE_FROM_ADMIN_URL, or set it at the destination: ALTER ROLE {role} PASSWORD …"
            )
    return carried
