"""The data-layer canary against real Postgres and S3 servers: heartbeats A acknowledged are
counted on B exactly, and removal leaves nothing of migrate's own behind."""

from __future__ import annotations

import time
from pathlib import Path

from migrate.outputs import TargetOutputs
from migrate.probes import canary
from migrate.spec.loader import load_spec
from tests.conftest import CHIRP_SPEC
from tests.data.conftest import Pair


def test_the_canary_counts_on_b_exactly_what_a_acknowledged_and_b_lacks(pair: Pair, tmp_path: Path) -> None:
    spec = load_spec(CHIRP_SPEC)
    a = TargetOutputs.model_validate(pair.a.outputs())
    b = TargetOutputs.model_validate(pair.b.outputs())
    assert canary.prepare(a)
    log = tmp_path / "canary.jsonl"
    running = canary.Canary(spec, a, log, rows_per_second=40, objects_per_second=10)
    running.start()
    time.sleep(1.5)
    running.stop()
    acks = canary.read_acks(log)
    rows = [x for x in acks if x["kind"] == "row"]
    objects = [x for x in acks if x["kind"] == "object"]
    assert len(rows) >= 10 and len(objects) >= 3
    assert {x["bucket"] for x in objects} == {"chirp-media"}  # recorded by the spec's name
    assert len(pair.a.sql(f"SELECT seq FROM {canary.TABLE}")) == len(rows)

    # B holds all but the last three rows and all but two objects (a replica that fell behind).
    pair.b.sql(f"CREATE TABLE {canary.TABLE} (seq bigint PRIMARY KEY, run text NOT NULL, written_at timestamptz)")
    for row in rows[:-3]:
        pair.b.sql(f"INSERT INTO {canary.TABLE} (seq, run) VALUES ({int(row['seq'])}, 'copied')")
    source, dest = pair.a.s3(), pair.b.s3()
    for item in objects[:-2]:
        body = source.get_object(Bucket=pair.a.bucket, Key=item["key"])["Body"].read()
        dest.put_object(Bucket=pair.b.bucket, Key=item["key"], Body=body)
    lost_rows, lost_objects = canary.missing(spec, b, acks)
    assert [x["seq"] for x in lost_rows] == [x["seq"] for x in rows[-3:]]
    assert [x["key"] for x in lost_objects] == [x["key"] for x in objects[-2:]]

    for side, outputs in ((pair.a, a), (pair.b, b)):
        canary.remove(spec, outputs)
        assert side.sql(f"SELECT to_regclass('{canary.TABLE}')") == [(None,)]
        listed = side.s3().list_objects_v2(Bucket=side.bucket, Prefix=canary.PREFIX)
        assert listed.get("KeyCount", 0) == 0
