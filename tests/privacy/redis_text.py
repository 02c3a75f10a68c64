"""Everything stored in a Redis, as one text: what the privacy tests search for personal data."""

from __future__ import annotations

import redis


def stored_text(redis_url: str) -> str:
    """Every key (SCAN) with its whole value, whatever the type; fails on a type it cannot read, so no key is
    skipped unseen."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    parts: list[str] = []
    try:
        for key in client.scan_iter(count=1000):
            kind = client.type(key)
            value: object
            if kind == "string":
                value = client.get(key)
            elif kind == "hash":
                value = client.hgetall(key)
            elif kind == "list":
                value = client.lrange(key, 0, -1)
            elif kind == "set":
                value = client.smembers(key)
            elif kind == "zset":
                value = client.zrange(key, 0, -1, withscores=True)
            elif kind == "stream":
                value = client.xrange(key)
            elif kind == "none":  # expired between SCAN and TYPE
                continue
            else:
                raise AssertionError(f"cannot read {key!r} of type {kind!r}")
            parts.append(f"{key!r} {value!r}")
    finally:
        client.close()
    return "\n".join(parts)
