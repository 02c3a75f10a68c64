"""Supervisors' acknowledgements of alerts, kept in Redis so every open console sees the same state.

An acknowledgement is one field of the ``cw:alert-acks`` hash (alert id -> JSON): the name consoles show and
the API key that did it. The first acknowledgement wins: acknowledging again returns the stored one, so two
supervisors clicking at once agree on who did it. A new acknowledgement is announced live
(:class:`monitor.live.AckEnvelope`); a console that missed one reads them back by alert id when it reconnects.
The hash is pruned of alerts that the stream has already trimmed, so it never outgrows the alert stream.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from monitor import live
from monitor import redis_keys as keys
from monitor.alerts import prune_older_than_stream
from monitor.schemas import Acknowledgement, utcnow


class AckStore:
    """Reads and writes acknowledgements; publishing them live is part of :meth:`acknowledge`.

    ``redis`` must decode responses (``decode_responses=True``): alert ids are read back as text."""

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
        await live.publish(self._redis, live.AckEnvelope(ack=ack))
        if await self._redis.hlen(keys.ALERT_ACKS) > self._max_entries:
            await prune_older_than_stream(self._redis, keys.ALERT_ACKS)
        return ack, True

    async def get_many(self, alert_ids: Sequence[str]) -> list[Acknowledgement]:
        """The acknowledgements of those alerts that have one, in the order asked."""
        if not alert_ids:
            return []
        raws = await self._redis.hmget(keys.ALERT_ACKS, list(alert_ids))
        return [Acknowledgement.model_validate_json(raw) for raw in raws if raw]
