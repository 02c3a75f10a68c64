"""Supervisors' acknowledgements of alerts, kept in Redis so every open console sees the same state.

An acknowledgement is one field of the ``cw:alert-acks`` hash (alert id -> JSON): the name consoles show and
the API key that did it. The first acknowledgement
wins: acknowledging again returns the stored one, so two supervisors clicking at once agree on who did it.
Acknowledgements are announced on the live channel as ``{"type": "alert.acknowledged", "ack": {...}}``; a
console that missed one reads them back by alert id when it reconnects. The hash is pruned of alerts that the
stream has already trimmed, so it never outgrows the alert stream.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from monitor import redis_keys as keys
from monitor.alerts import stream_id_key
from monitor.schemas import utcnow


class Acknowledgement(BaseModel):
    """Who acknowledged an alert, and when."""

    alert_id: str
    by: str = Field(max_length=100)
    at: datetime
    key_id: str | None = Field(default=None, description="the API key that acknowledged (open mode: `open`)")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class AckStore:
    """Reads and writes acknowledgements; publishing them live is part of :meth:`acknowledge`."""

    def __init__(self, redis: Redis, *, max_entries: int) -> None:
        self._redis = redis
        self._max_entries = max_entries

    async def acknowledge(self, alert_id: str, by: str, *, key_id: str | None = None) -> tuple[Acknowledgement, bool]:
        """Store the acknowledgement unless one exists; returns it and whether it is new (then it is published)."""
        ack = Acknowledgement(alert_id=alert_id, by=by, at=utcnow(), key_id=key_id)
        created = bool(await self._redis.hsetnx(keys.ALERT_ACKS, alert_id, ack.model_dump_json()))
        if not created:
            stored = await self.get_many([alert_id])
            return stored[0], False
        envelope = {"type": "alert.acknowledged", "ack": ack.model_dump(mode="json")}
        await self._redis.publish(keys.LIVE_CHANNEL, json.dumps(envelope))
        if await self._redis.hlen(keys.ALERT_ACKS) > self._max_entries:
            await self._prune()
        return ack, True

    async def get_many(self, alert_ids: Sequence[str]) -> list[Acknowledgement]:
        """The acknowledgements of those alerts that have one, in the order asked."""
        if not alert_ids:
            return []
        raws = await self._redis.hmget(keys.ALERT_ACKS, list(alert_ids))
        return [Acknowledgement.model_validate_json(raw) for raw in raws if raw]

    async def _prune(self) -> None:
        """Drop acknowledgements of alerts older than the oldest one the stream still holds."""
        oldest = await self._redis.xrange(keys.ALERTS_STREAM, count=1)
        if not oldest or oldest[0][0] is None:
            return
        floor = stream_id_key(_text(oldest[0][0]))
        stale = [
            field for field in map(_text, await self._redis.hkeys(keys.ALERT_ACKS)) if stream_id_key(field) < floor
        ]
        if stale:
            await self._redis.hdel(keys.ALERT_ACKS, *stale)
