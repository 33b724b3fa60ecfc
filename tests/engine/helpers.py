"""Helpers for the engine tests: a private sandbox (MIGRATE_HOME, loopback address) and probes."""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path

from providers.local.servers import process


def free_loopback_address() -> str:
    """A 127.x.y.1 nobody listens on (port 80), far from the spec's fixed ones."""
    for _ in range(100):
        address = f"127.{random.randint(100, 250)}.{random.randint(0, 255)}.1"
        if not listening_ports(address):
            return address
    raise RuntimeError("no free loopback address")


def listening_ports(address: str) -> list[int]:
    """TCP ports in LISTEN state on ``address`` (from /proc/net/tcp, no tools needed)."""
    parts = [int(part) for part in address.split(".")]
    wanted = "".join(f"{part:02X}" for part in reversed(parts))
    ports = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state = fields[1], fields[3]
        host_hex, port_hex = local.split(":")
        if state == "0A" and host_hex == wanted:
            ports.append(int(port_hex, 16))
    return sorted(ports)


def answers(address: str, port: int) -> bool:
    return process.port_open(address, port, timeout=0.5)


def png(width: int, height: int, seed: int = 1) -> bytes:
    """A real (noisy, so incompressible) RGB PNG image."""
    rng = random.Random(seed)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b"")
