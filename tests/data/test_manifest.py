"""The copy manifest (SQLite): what a follower's announced batch reads of it."""

from __future__ import annotations

from pathlib import Path

from migrate.data.manifest import Manifest
from migrate.data.stores import ObjectInfo


def test_records_of_some_keys_reads_only_those_rows_including_unflushed_ones(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path / "m.sqlite", "a", "b")
    try:
        manifest.start_run()
        for index in range(1_200):  # more keys than one statement may bind
            info = ObjectInfo(f"img/{index:05d}.jpg", index, f"etag{index}")
            manifest.record(info, index, f"etag{index}", "", copied=True)
        wanted = [f"img/{index:05d}.jpg" for index in range(0, 1_200, 2)] + ["img/missing.jpg"]
        some = manifest.records(wanted)
        assert sorted(some) == sorted(wanted[:-1])
        assert some["img/00010.jpg"].dst_etag == "etag10" and some["img/00010.jpg"].copied_by == 1
        assert len(manifest.records()) == 1_200
    finally:
        manifest.close()
