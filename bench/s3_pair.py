"""Two S3 servers (versitygw) on loopback for the media benches: started in ``work``, and
stopped, with ``work`` removed, however the bench ends; and rclone's remotes ``a`` and ``b``
for them. Imported by its siblings as ``s3_pair`` (a bench runs with bench/ on its path)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from providers.local.servers.process import free_port
from providers.local.servers.s3 import S3Server


@contextmanager
def s3_pair(work: Path, keys: tuple[str, str]) -> Iterator[tuple[S3Server, S3Server]]:
    """Servers A and B (data under ``work``/a and ``work``/b), both answering ``keys``."""
    a = S3Server("127.0.0.1", free_port(), work / "a", *keys)
    b = S3Server("127.0.0.1", free_port(), work / "b", *keys)
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()
        shutil.rmtree(work, ignore_errors=True)


def rclone_conf(work: Path, a: S3Server, b: S3Server, keys: tuple[str, str]) -> Path:
    """An rclone config (``work``/rclone.conf, private) naming the servers remotes ``a`` and ``b``."""
    conf = work / "rclone.conf"
    conf.write_text(
        "".join(
            f"[{n}]\ntype = s3\nprovider = Other\nendpoint = {s.endpoint}\naccess_key_id = {keys[0]}\n"
            f"secret_access_key = {keys[1]}\nforce_path_style = true\n\n"
            for n, s in (("a", a), ("b", b))
        )
    )
    conf.chmod(0o600)
    return conf
