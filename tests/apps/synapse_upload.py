"""Upload media to a live Synapse through Matrix's media API, as a client would, and record
what was sent: run by the Synapse drill test just before A is terminated
(``MIGRATE_FAULT_AT=before:terminate``), so the test can fetch the same media from B.

    python -m tests.apps.synapse_upload ADDRESS OUT.json
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
import time
from pathlib import Path

import httpx

DOMAIN = "matrix.test"
UPLOADS = 5


def main(address: str, out: Path) -> None:
    user, password = f"media{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    with httpx.Client(base_url=f"http://{address}", headers={"Host": DOMAIN}, timeout=30) as client:
        registered = client.post(
            "/_matrix/client/v3/register",
            json={"username": user, "password": password, "auth": {"type": "m.login.dummy"}},
        )
        registered.raise_for_status()
        token = registered.json()["access_token"]
        media = []
        for n in range(UPLOADS):
            payload = secrets.token_bytes(2048 + n * 4096)
            uploaded = client.post(
                "/_matrix/media/v3/upload",
                params={"filename": f"drill-{n}.bin"},
                content=payload,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"},
            )
            uploaded.raise_for_status()
            media_id = uploaded.json()["content_uri"].removeprefix(f"mxc://{DOMAIN}/")
            media.append({"id": media_id, "sha256": hashlib.sha256(payload).hexdigest(), "size": len(payload)})
    out.write_text(json.dumps({"user": user, "media": media}))
    time.sleep(3)  # the media follower's window: what A stored before its end reaches B


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
