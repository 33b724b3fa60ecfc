"""Optional Redis cache for timelines. Redis being down never fails a request."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)

TTL_S = 60


def timeline_key(user_id: int) -> str:
    return f"chirp:timeline:{user_id}"


class TimelineCache:
    def __init__(self, redis_url: str | None) -> None:
        self.client: Any = None
        if redis_url:
            import redis

            self.client = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)

    @property
    def enabled(self) -> bool:
        return self.client is not None

    def get(self, user_id: int) -> list[dict[str, Any]] | None:
        if self.client is None:
            return None
        try:
            raw = self.client.get(timeline_key(user_id))
        except Exception as exc:
            log.warning("redis get failed: %s", type(exc).__name__)
            return None
        return None if raw is None else list(json.loads(raw))

    def put(self, user_id: int, posts: list[dict[str, Any]]) -> None:
        if self.client is None:
            return
        try:
            self.client.set(timeline_key(user_id), json.dumps(posts), ex=TTL_S)
        except Exception as exc:
            log.warning("redis set failed: %s", type(exc).__name__)

    def invalidate(self, user_ids: Iterable[int]) -> None:
        keys = [timeline_key(uid) for uid in user_ids]
        if self.client is None or not keys:
            return
        try:
            self.client.delete(*keys)
        except Exception as exc:
            log.warning("redis delete failed: %s", type(exc).__name__)

    def check(self) -> None:
        if self.client is not None:
            self.client.ping()
