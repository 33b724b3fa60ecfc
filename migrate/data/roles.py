"""Roles survive the move: every role that owns an object or holds a grant in the database.

Missing roles are created with their attributes (REPLICATION, BYPASSRLS and CREATEROLE only by
a superuser at the destination) and the memberships they had among themselves; their passwords
and settings are carried by ``db_settings`` where the source gives a superuser. Creating them
needs CREATEROLE (or superuser) at the destination; without it the error names the roles and the SQL an admin can run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from migrate.data.endpoints import PgEndpoint
from migrate.data.fingerprint import USER_SCHEMAS
from migrate.data.pgconn import connect
from migrate.errors import MigrateError

NEEDED_SQL = f"""
WITH objects AS (
    SELECT c.relowner AS owner, c.relacl AS acl FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {USER_SCHEMAS}
    UNION ALL SELECT n.nspowner, n.nspacl FROM pg_namespace n WHERE {USER_SCHEMAS} AND n.nspname <> 'public'
    UNION ALL SELECT p.proowner, p.proacl FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE {USER_SCHEMAS}
    UNION ALL SELECT t.typowner, t.typacl FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE {USER_SCHEMAS}
    UNION ALL SELECT d.datdba, d.datacl FROM pg_database d WHERE d.datname = current_database()
), oids AS (
    SELECT owner AS oid, true AS owns FROM objects
    UNION ALL SELECT (aclexplode(acl)).grantee, false FROM objects WHERE acl IS NOT NULL
)
SELECT r.rolname, r.rolcanlogin, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolreplication,
       r.rolbypassrls, r.rolconnlimit, bool_or(oids.owns)
FROM pg_roles r JOIN oids ON oids.oid = r.oid
WHERE r.rolname NOT LIKE 'pg\\_%' AND NOT r.rolsuper
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
ORDER BY 1"""
MEMBERS_SQL = """
SELECT g.rolname, m.rolname FROM pg_auth_members a
JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member"""


@dataclass(frozen=True)
class Role:
    name: str
    login: bool
    inherit: bool
    createrole: bool
    createdb: bool
    replication: bool
    bypassrls: bool
    connlimit: int
    owns_objects: bool

    def superuser_only(self) -> list[str]:
        """The attributes it has that only a superuser may give (left out by a non-superuser)."""
        wanted = (("REPLICATION", self.replication), ("BYPASSRLS", self.bypassrls), ("CREATEROLE", self.createrole))
        return [flag for flag, has in wanted if has]

    def create_sql(self, superuser: bool = False) -> str:
        """Its attributes; REPLICATION, BYPASSRLS and CREATEROLE only a superuser may give."""
        flags = ["LOGIN" if self.login else "NOLOGIN", "INHERIT" if self.inherit else "NOINHERIT"]
        flags += ["CREATEDB"] if self.createdb else []
        if superuser:
            flags += ["REPLICATION"] if self.replication else []
            flags += ["BYPASSRLS"] if self.bypassrls else []
            flags += ["CREATEROLE"] if self.createrole else []
        flags += [f"CONNECTION LIMIT {self.connlimit}"] if self.connlimit >= 0 else []
        return f"CREATE ROLE {_ident(self.name)} {' '.join(flags)}"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def needed_roles(conn: Any) -> tuple[list[Role], list[tuple[str, str]]]:
    """Roles owning objects or holding grants in the source database, and memberships among them."""
    roles = [Role(*row) for row in conn.execute(NEEDED_SQL).fetchall()]
    names = {role.name for role in roles}
    members = [
        (group, member) for group, member in conn.execute(MEMBERS_SQL).fetchall() if group in names and member in names
    ]
    return roles, members


def source_roles(source: PgEndpoint) -> tuple[list[Role], list[tuple[str, str]]]:
    with connect(source, what="read roles from") as conn:
        return needed_roles(conn)


def ensure_roles(source: PgEndpoint, dest: PgEndpoint, admin: PgEndpoint | None = None) -> list[str]:
    """Create at the destination the roles the source's objects need; return those created."""
    roles, members = source_roles(source)
    return create_roles(dest, roles, members, admin)


def create_roles(
    dest: PgEndpoint,
    roles: list[Role],
    members: list[tuple[str, str]],
    admin: PgEndpoint | None = None,
    not_carried: list[str] | None = None,
) -> list[str]:
    """Create the missing ``roles`` and memberships at the destination; return those created.

    ``not_carried`` gets one line per attribute left out (REPLICATION, BYPASSRLS, CREATEROLE
    when the destination gives no superuser), with the SQL an admin can run.

    Also makes the destination user a member of every owner role it must hand objects to,
    which a non-superuser needs for ``ALTER ... OWNER TO``.
    """
    owner_admin = admin or dest
    with connect(owner_admin, what="create roles at") as conn:
        existing = {row[0] for row in conn.execute("SELECT rolname FROM pg_roles").fetchall()}
        me = conn.execute("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user").fetchone()
        missing = [role for role in roles if role.name not in existing]
        if missing and not (me[0] or me[1]):
            sql = "; ".join(role.create_sql() for role in missing)
            raise MigrateError(
                f"roles {', '.join(r.name for r in missing)} own objects or hold grants at the source but do not "
                f"exist at {dest.label}, and {owner_admin.user} may not create roles: give it CREATEROLE, or have "
                f"an admin run: {sql}"
            )
        for role in missing:
            conn.execute(role.create_sql(superuser=bool(me[0])))
            lost = [] if me[0] else role.superuser_only()
            if lost and not_carried is not None:
                not_carried.append(
                    f"role {role.name}: {', '.join(lost)} (only a superuser may give it at {dest.label}); "
                    f"have an admin run ALTER ROLE {_ident(role.name)} {' '.join(lost)}"
                )
        have = {(g, m) for g, m in conn.execute(MEMBERS_SQL).fetchall()}
        for group, member in members:
            if (group, member) not in have:
                conn.execute(f"GRANT {_ident(group)} TO {_ident(member)}")
        if not me[0]:
            # ALTER ... OWNER TO r needs membership in r; a CREATEROLE user may grant it to itself.
            for role in roles:
                if (
                    role.owns_objects
                    and role.name != dest.user
                    and (role.name, dest.user) not in have
                    and (me[1] or admin)
                ):
                    conn.execute(f"GRANT {_ident(role.name)} TO {_ident(dest.user)}")
    return [role.name for role in missing]
