"""The row hash ``data verify`` sums: fast (``hashtextextended``) and still exact about content,
and fingerprints stored by older backups (md5, no ``row_hash`` field) still verify a restore.
Real Postgres 15 (tests/data/conftest.py)."""

from __future__ import annotations

from pydantic import SecretStr

from migrate.data.endpoints import PgEndpoint
from migrate.data.fingerprint import DbFingerprint, compare, fingerprint
from migrate.data.postgres_move import verify_against
from tests.data.conftest import Pair


def test_row_hash_names_changed_rows_and_old_md5_fingerprints_still_verify(pair: Pair) -> None:
    for side in (pair.a, pair.b):
        side.sql("CREATE TABLE notes (id int, body text)")  # no key: duplicates count
        side.sql("INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 1000) g")
    a, b = (PgEndpoint(SecretStr(s.app_url), name=s.name) for s in (pair.a, pair.b))
    assert compare(fingerprint(a), fingerprint(b)).ok
    pair.b.sql("UPDATE notes SET body = 'note 8' WHERE id = 7")  # same count, one row's text changed
    report = compare(fingerprint(a), fingerprint(b))
    assert [(m.item, m.kind) for m in report.mismatches] == [("public.notes", "content hash")]
    pair.b.sql("UPDATE notes SET body = 'note 7' WHERE id = 7")

    stored = fingerprint(a, row_hash="md5").to_json()
    del stored["row_hash"]  # as a backup made before the field existed
    old = DbFingerprint.from_dict("backup", stored)
    assert old.row_hash == "md5"
    assert old.tables["public.notes"][1] != fingerprint(a).tables["public.notes"][1]
    assert verify_against(old, b).ok  # the destination is hashed the stored way
    pair.b.sql("INSERT INTO notes VALUES (1, 'note 1')")  # a duplicated row
    assert not verify_against(old, b).ok
