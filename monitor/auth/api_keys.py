"""API keys in Redis: create (the key is shown once), list, revoke, and look one up to verify a caller.

Keys are 256-bit random strings; Redis keeps only their SHA-256 (a fast hash is enough for a high-entropy
secret: there is nothing to brute-force), so a copy of the database gives no one a working key.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from pydantic import BaseModel
from redis.asyncio import Redis

from monitor import redis_keys
from monitor.auth.policy import ROLES, Role

KEY_PREFIX = "cwk_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyRecord(BaseModel):
    """What is stored about an API key (never the key itself)."""

    id: str
    role: Role
    agent_id: str | None = None
    name: str = ""
    created_at: datetime
    prefix: str  # the key's first characters, so a human can tell keys apart in a listing


class KeyStore:
    """API keys in Redis: create (key shown once), look up by hash, list, revoke."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def create(self, role: Role, *, agent_id: str | None = None, name: str = "") -> tuple[str, KeyRecord]:
        """A new random key and its record; the key is returned here and nowhere else, ever."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        if role == "agent" and not agent_id:
            raise ValueError("an agent key needs the agent id it may read (--agent-id)")
        if role != "agent" and agent_id:
            raise ValueError("only agent keys carry an agent id")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        record = KeyRecord(
            id="key_" + secrets.token_hex(6),
            role=role,
            agent_id=agent_id,
            name=name,
            created_at=datetime.now(UTC),
            prefix=key[:10],
        )
        digest = hash_key(key)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(redis_keys.API_KEYS, digest, record.model_dump_json())
            pipe.hset(redis_keys.API_KEY_IDS, record.id, digest)
            await pipe.execute()
        return key, record

    async def lookup(self, key: str) -> KeyRecord | None:
        return await self._record(hash_key(key))

    async def by_id(self, key_id: str) -> KeyRecord | None:
        """The record of a key by its id (what a principal carries), e.g. to name who did something."""
        digest = await self._redis.hget(redis_keys.API_KEY_IDS, key_id)
        return await self._record(str(digest)) if digest else None

    async def _record(self, digest: str) -> KeyRecord | None:
        raw = await self._redis.hget(redis_keys.API_KEYS, digest)
        return KeyRecord.model_validate_json(raw) if raw else None

    async def exists(self, key_id: str) -> bool:
        return bool(await self._redis.hexists(redis_keys.API_KEY_IDS, key_id))

    async def count(self) -> int:
        return int(await self._redis.hlen(redis_keys.API_KEYS))

    async def records(self) -> list[KeyRecord]:
        raw = await self._redis.hgetall(redis_keys.API_KEYS)
        return sorted((KeyRecord.model_validate_json(r) for r in raw.values()), key=lambda r: r.created_at)

    async def revoke(self, key_id: str) -> bool:
        """Delete a key; its tokens stop working at once. False when there was no such key."""
        digest = await self._redis.hget(redis_keys.API_KEY_IDS, key_id)
        if digest is None:
            return False
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(redis_keys.API_KEYS, digest)
            pipe.hdel(redis_keys.API_KEY_IDS, key_id)
            await pipe.execute()
        return True
