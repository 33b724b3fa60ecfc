"""What `data verify` costs beside the move it checks, on two real S3 servers (versitygw) on loopback.

    python bench/media_verify.py [--objects 3000] [--size 20000] [--workers 16]

Seeds A with ``--objects`` objects as an app writes them (Content-Type, Content-Encoding,
Content-Language, Cache-Control, Content-Disposition, Expires, two user-metadata keys, three
tags), then times, through the CLI as a user runs them: the move (`data sync --no-postgres
--no-verify`), and `data verify --no-postgres`, which lists both sides, decides bytes from the
servers' own ETags (hashing where they cannot), and HEADs and reads the tags of every object at
both sides. Prints the load average with every figure: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from providers.local.servers.process import free_port  # noqa: E402
from providers.local.servers.s3 import S3Server, s3_client  # noqa: E402

KEYS = ("bench-access", "bench-secret-key")
HEADERS = {
    "ContentType": "image/webp",
    "ContentEncoding": "identity",
    "ContentLanguage": "en",
    "CacheControl": "public, max-age=31536000, immutable",
    "ContentDisposition": 'inline; filename="photo.webp"',
    "Expires": "Wed, 21 Oct 2026 07:28:00 GMT",
}


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def outputs(work: Path, name: str, server: S3Server, bucket: str) -> Path:
    path = work / f"{name}.json"
    document = {
        "target": name,
        "provider": "local",
        "public_addresses": ["127.0.0.1"],
        "health_url": "http://127.0.0.1/healthz",
        "s3_endpoint": server.endpoint,
        "s3_access_key": KEYS[0],
        "s3_secret_key": KEYS[1],
        "s3_buckets": {"media": bucket},
    }
    path.write_text(json.dumps(document))
    path.chmod(0o600)
    return path


def timed_cli(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "migrate", *args], env=env, cwd=REPO, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"migrate {' '.join(args[:2])} failed: {done.stderr.strip()[-500:]}")
    return seconds, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=3000)
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=16)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="media-verify-bench-") as scratch:
        work = Path(scratch)
        servers = [S3Server("127.0.0.1", free_port(), work / f"s3-{n}", *KEYS) for n in "ab"]
        for server in servers:
            server.start()
        try:
            a, b = (s3_client(server.endpoint, *KEYS) for server in servers)
            a.create_bucket(Bucket="media-a")
            b.create_bucket(Bucket="media-b")
            body = os.urandom(opts.size)

            def put(n: int) -> None:
                a.put_object(
                    Bucket="media-a",
                    Key=f"img/{n:06d}.webp",
                    Body=body[n % 97 :] + n.to_bytes(4, "big"),
                    Metadata={"sha256": f"app-{n}", "uploaded-by": f"user{n % 50}"},
                    Tagging=f"visibility=public&owner=user{n % 50}&kind=photo",
                    **HEADERS,
                )

            with ThreadPoolExecutor(16) as pool:
                list(pool.map(put, range(opts.objects)))
            files = [outputs(work, "site-a", servers[0], "media-a"), outputs(work, "site-b", servers[1], "media-b")]
            pair = ["--from-outputs", str(files[0]), "--to-outputs", str(files[1]), "--no-postgres"]
            env = {**os.environ, "PYTHONPATH": str(REPO), "MIGRATE_HOME": str(work / "home")}
            workers = ["--workers", str(opts.workers)]
            print(f"{opts.objects} objects x {opts.size} B, every header + 2 metadata keys + 3 tags; versitygw")
            before = load()
            move, _ = timed_cli(["data", "sync", *pair, "--no-verify", *workers], env)
            print(f"move    (data sync --no-verify)  {move:7.2f} s   load {before} -> {load()}")
            before = load()
            check, code = timed_cli(["data", "verify", *pair, *workers], env)
            print(f"verify  (data verify)            {check:7.2f} s   load {before} -> {load()}   exit {code}")
            print(f"ratio   verify / move = {check / move:.2f}x")
        finally:
            for server in servers:
                server.stop()


if __name__ == "__main__":
    main()
