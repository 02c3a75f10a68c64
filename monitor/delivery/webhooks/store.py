"""Endpoints and deliveries in Redis, used by the API and by the dispatcher.

A delivery is a record (its state and the exact body bytes), an entry on its endpoint's due set (scored by
when it is next due, or until when an attempt in flight holds it) and an entry in the endpoint's delivery log.
Names of all these keys are in :mod:`monitor.redis_keys`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from monitor import redis_keys
from monitor.delivery.webhooks.models import Attempt, Delivery, DeliveryView, EventType, WebhookEndpoint
from monitor.delivery.webhooks.signing import new_secret
from monitor.schemas import Severity
from monitor.settings import Settings

#: Deliveries kept in an endpoint's log (and records kept at all: they expire after DELIVERY_TTL_S).
DELIVERY_LOG_SIZE = 1000
DELIVERY_TTL_S = 30 * 24 * 3600
ATTEMPTS_KEPT = 50


_ENQUEUE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'meta', ARGV[1], 'body', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(ARGV[6]) - 1)
if ARGV[7] == '1' then redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4]) end
return 1
"""

_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
"""


class WebhookStore:
    """Endpoints and deliveries in Redis. Used by the API and by the dispatcher.

    ``redis`` must decode responses (``decode_responses=True``): ids and records are text, and the body is
    JSON, so it comes back as the same UTF-8 text it was written as."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._settings = settings
        self._enqueue = redis.register_script(_ENQUEUE)
        self._claim = redis.register_script(_CLAIM)

    # --- endpoints
    async def create(
        self,
        url: str,
        events: Sequence[EventType],
        *,
        description: str = "",
        rules: Sequence[str] | None = None,
        min_severity: Severity | None = None,
    ) -> WebhookEndpoint:
        endpoint = WebhookEndpoint(
            id="ep_" + secrets.token_hex(8),
            url=url,
            events=list(dict.fromkeys(events)),
            description=description,
            rules=list(rules) if rules is not None else None,
            min_severity=min_severity,
            created_at=datetime.now(UTC),
            secret=new_secret(),
        )
        await self._redis.hset(redis_keys.WEBHOOKS, endpoint.id, endpoint.model_dump_json())
        return endpoint

    async def get(self, endpoint_id: str) -> WebhookEndpoint | None:
        raw = await self._redis.hget(redis_keys.WEBHOOKS, endpoint_id)
        return WebhookEndpoint.model_validate_json(raw) if raw else None

    async def endpoints(self) -> list[WebhookEndpoint]:
        raw = await self._redis.hgetall(redis_keys.WEBHOOKS)
        return sorted((WebhookEndpoint.model_validate_json(v) for v in raw.values()), key=lambda e: e.created_at)

    async def update(
        self, endpoint_id: str, change: Callable[[WebhookEndpoint], WebhookEndpoint]
    ) -> WebhookEndpoint | None:
        """Read-modify-write under WATCH, so a PATCH and the dispatcher's health updates never clobber each other."""
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(redis_keys.WEBHOOKS)
                    raw = await pipe.hget(redis_keys.WEBHOOKS, endpoint_id)
                    if raw is None:
                        await pipe.reset()
                        return None
                    endpoint = change(WebhookEndpoint.model_validate_json(raw))
                    pipe.multi()
                    pipe.hset(redis_keys.WEBHOOKS, endpoint_id, endpoint.model_dump_json())
                    await pipe.execute()
                    return endpoint
                except WatchError:
                    continue  # someone else changed an endpoint meanwhile: read again

    async def delete(self, endpoint_id: str) -> bool:
        """Remove the endpoint; its queued deliveries go with it (their records expire on their own). Not one
        MULTI: the endpoint's keys live in its own hash slot, and a due set left by a crash here is never read."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hdel(redis_keys.WEBHOOKS, endpoint_id)
            pipe.delete(redis_keys.webhook_due(endpoint_id))
            pipe.delete(redis_keys.webhook_deliveries(endpoint_id))
            removed, _, _ = await pipe.execute()
        return bool(removed)

    async def pending_count(self, endpoint_id: str) -> int:
        return int(await self._redis.zcard(redis_keys.webhook_due(endpoint_id)))

    # --- deliveries
    async def enqueue(self, endpoint: WebhookEndpoint, delivery: Delivery, body: bytes, *, schedule: bool) -> bool:
        """Write the record and (``schedule``) put it on the due set in one step; False if it already existed."""
        due = time.time()
        created = await self._enqueue(
            keys=[
                redis_keys.webhook_delivery(endpoint.id, delivery.id),
                redis_keys.webhook_due(endpoint.id),
                redis_keys.webhook_deliveries(endpoint.id),
            ],
            args=[
                delivery.model_dump_json(),
                body,
                due,
                delivery.id,
                DELIVERY_TTL_S,
                DELIVERY_LOG_SIZE,
                "1" if schedule else "0",
            ],
        )
        return bool(created)

    async def claim(self, endpoint_id: str, limit: int, lease_s: float) -> list[str]:
        """Up to ``limit`` due delivery ids, leased: if this process dies they become due again at lease end."""
        now = time.time()
        ids = await self._claim(keys=[redis_keys.webhook_due(endpoint_id)], args=[now, now + lease_s, limit])
        return list(ids)

    async def load(self, endpoint_id: str, delivery_id: str) -> tuple[Delivery, bytes] | None:
        meta, body = await self._redis.hmget(redis_keys.webhook_delivery(endpoint_id, delivery_id), ["meta", "body"])
        if meta is None or body is None:
            return None
        assert isinstance(body, str), "the client must decode responses"
        return Delivery.model_validate_json(meta), body.encode()

    async def record(
        self, endpoint_id: str, delivery: Delivery, attempt: Attempt | None, *, due_at: float | None
    ) -> None:
        """Save the delivery's state (and the attempt), and put it back on the due set or take it off."""
        dkey = redis_keys.webhook_delivery(endpoint_id, delivery.id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(dkey, "meta", delivery.model_dump_json())
            pipe.expire(dkey, DELIVERY_TTL_S)
            if attempt is not None:
                akey = redis_keys.webhook_attempts(endpoint_id, delivery.id)
                pipe.rpush(akey, attempt.model_dump_json())
                pipe.ltrim(akey, -ATTEMPTS_KEPT, -1)
                pipe.expire(akey, DELIVERY_TTL_S)
            if due_at is None:
                pipe.zrem(redis_keys.webhook_due(endpoint_id), delivery.id)
            else:
                pipe.zadd(redis_keys.webhook_due(endpoint_id), {delivery.id: due_at})
            await pipe.execute()

    async def release(self, endpoint_id: str, delivery_id: str, *, delay_s: float = 0.0) -> None:
        """End a delivery's lease: due again after ``delay_s`` (an attempt interrupted by shutdown, or crashed)."""
        await self._redis.zadd(redis_keys.webhook_due(endpoint_id), {delivery_id: time.time() + delay_s}, xx=True)

    async def deliveries(self, endpoint_id: str, *, limit: int = 50) -> list[DeliveryView]:
        """The newest deliveries first, each with its attempts."""
        ids: list[Any] = await self._redis.zrevrange(redis_keys.webhook_deliveries(endpoint_id), 0, limit - 1)
        async with self._redis.pipeline(transaction=False) as pipe:
            for did in ids:
                pipe.hget(redis_keys.webhook_delivery(endpoint_id, did), "meta")
                pipe.lrange(redis_keys.webhook_attempts(endpoint_id, did), 0, -1)
            results = await pipe.execute()
        views = []
        for meta, attempts in zip(results[::2], results[1::2], strict=True):
            if meta is None:
                continue
            view = DeliveryView.model_validate_json(meta)
            view.attempts = [Attempt.model_validate_json(a) for a in attempts]
            views.append(view)
        return views

    async def delivery(self, endpoint_id: str, delivery_id: str) -> DeliveryView | None:
        meta = await self._redis.hget(redis_keys.webhook_delivery(endpoint_id, delivery_id), "meta")
        if meta is None:
            return None
        view = DeliveryView.model_validate_json(meta)
        raw = await self._redis.lrange(redis_keys.webhook_attempts(endpoint_id, delivery_id), 0, -1)
        view.attempts = [Attempt.model_validate_json(a) for a in raw]
        return view
