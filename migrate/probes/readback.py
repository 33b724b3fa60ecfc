"""Replay the read-back of every acknowledged write against the destination: what fails is lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from migrate.errors import MigrateError
from migrate.probes.http import client_for, send
from migrate.spec.probes import Probes


@dataclass
class ReadBack:
    """``lost``: acks whose write's read-back failed; ``uploads_lost``: upload acks whose media
    read-back failed (a write can be there without its media)."""

    lost: list[dict[str, Any]] = field(default_factory=list)
    uploads_lost: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)


def read_back(
    probes: Probes,
    acks: list[dict[str, Any]],
    *,
    base_url: str,
    host: str | None,
    run: str,
    setup_values: dict[str, Any] | None = None,
    threads: int = 16,
) -> ReadBack:
    """``setup_values``: what the load's setup captured at the source (its ids are the
    destination's too once the data moved); ``read_setup`` captures override them."""
    result = ReadBack()
    with client_for(base_url, host, probes.timeout_seconds, threads) as client:
        values: dict[str, Any] = {**(setup_values or {}), "run": run}
        for index, request in enumerate(probes.read_setup):
            outcome = send(client, request, values)
            if not outcome.ok:
                raise MigrateError(f"probe read_setup {index + 1} failed on {base_url}: {outcome.error}")
            values.update(outcome.captured)

        def check(ack: dict[str, Any]) -> tuple[dict[str, Any], str | None, str | None]:
            own = {**values, **(ack.get("values") or {}), "seq": ack["seq"], "token": ack["token"]}
            write = send(client, probes.read, own)
            media_error = None
            if ack.get("kind") == "upload" and probes.upload is not None and probes.upload.read is not None:
                media = send(client, probes.upload.read, own)
                media_error = None if media.ok else media.error
            return ack, (None if write.ok else write.error), media_error

        with ThreadPoolExecutor(threads) as pool:
            for ack, write_error, media_error in pool.map(check, acks):
                for error in (write_error, media_error):
                    if error:
                        result.errors[error] = result.errors.get(error, 0) + 1
                if write_error:
                    result.lost.append(ack)
                if media_error:
                    result.uploads_lost.append(ack)
    return result
