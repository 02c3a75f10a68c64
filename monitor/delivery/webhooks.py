"""Signed, retried, durable webhooks, following the Standard Webhooks specification.

How an alert becomes a delivery, and why nothing is lost:

1. The dispatcher reads the alert stream (``cw:alerts``) through the consumer group ``webhooks``
   (XREADGROUP). For each alert and each enabled endpoint whose filters match, it writes a delivery record
   (the exact body bytes, fixed once) and puts it on the endpoint's due set *before* any attempt, and only
   then XACKs the alert. A crash in between leaves the alert pending in the group, and it is re-read (by this
   process after a restart, or claimed by another with XAUTOCLAIM); delivery ids are derived from the alert
   id, so re-reading it queues nothing twice.
2. A scheduler claims due deliveries per endpoint (a Lua script that moves them to a lease time, so a crash
   mid-attempt makes them due again) and attempts them with httpx: at most ``webhook_max_in_flight`` in
   flight in the process and ``webhook_endpoint_concurrency`` per endpoint, so a slow or dead endpoint holds
   only its own lane, and the alert pipeline never waits for any of it.
3. Every attempt is signed afresh (``webhook-timestamp`` is the attempt's time, so receivers can refuse old
   replays) but keeps its ``webhook-id`` and body, so receivers deduplicate on ``webhook-id``. A 2xx is
   success; a timeout, a connection error or any other status is retried after the delays of
   ``webhook_retry_schedule_s`` (default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: the last attempt is about
   28 hours after the alert), each with +-20 % jitter so a recovering receiver is not hit by a thundering herd.
   Redirects are not followed. After the last attempt the delivery is ``failed`` and can be re-sent.
4. An endpoint that has not had a single success for ``webhook_disable_after_s`` (default 5 days) is disabled
   and says why; its queued deliveries wait, and resume when it is re-enabled.

The signature is ``v1,`` + base64(HMAC-SHA256(secret, f"{webhook-id}.{webhook-timestamp}.{body}")), computed by
the ``standardwebhooks`` package; secrets are ``whsec_`` + base64 of 32 random bytes. After a rotation the
previous secret also signs (two space-separated signatures) for ``webhook_secret_grace_s``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import os
import random
import secrets
import socket
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import httpx
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import BaseModel, Field
from redis.asyncio import Redis
from redis.exceptions import ResponseError, WatchError
from standardwebhooks import Webhook

from monitor import __version__, redis_keys
from monitor.schemas import SEVERITY_RANK, Alert, Severity
from monitor.settings import Settings

log = structlog.get_logger("delivery.webhooks")

EventType = Literal["alert.raised", "conversation.escalated"]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
TEST_EVENT = "webhook.test"
#: The rule whose alerts are also sent as ``conversation.escalated``.
ESCALATION_RULE = "escalate"

#: Deliveries kept in an endpoint's log (and records kept at all: they expire after DELIVERY_TTL_S).
DELIVERY_LOG_SIZE = 1000
DELIVERY_TTL_S = 30 * 24 * 3600
ATTEMPTS_KEPT = 50
RESPONSE_KEPT_BYTES = 1024
FANOUT_BATCH = 100
#: An alert read by a consumer that then vanished is claimed by another after this long.
CLAIM_IDLE_MS = 60_000
JITTER = 0.2
#: A healthy endpoint's last_success_at is refreshed at most this often.
HEALTH_WRITE_S = 5.0


def _now() -> datetime:
    return datetime.now(UTC)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookEndpoint(BaseModel):
    """An endpoint as stored in Redis, secrets included (they are needed to sign)."""

    id: str
    url: str
    events: list[EventType]
    description: str = ""
    rules: list[str] | None = None
    min_severity: Severity | None = None
    enabled: bool = True
    disabled_reason: str | None = None
    created_at: datetime
    secret: str = Field(repr=False)
    previous_secret: str | None = Field(default=None, repr=False)
    previous_secret_until: datetime | None = None
    failing_since: datetime | None = None
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None

    def wants(self, event_type: str, alert: Alert) -> bool:
        """The endpoint's event, rule and severity filters."""
        if event_type not in self.events:
            return False
        if self.rules is not None and alert.rule not in self.rules:
            return False
        return self.min_severity is None or SEVERITY_RANK[alert.severity] >= SEVERITY_RANK[self.min_severity]

    def signing_secrets(self, now: datetime) -> list[str]:
        if self.previous_secret and self.previous_secret_until and now < self.previous_secret_until:
            return [self.secret, self.previous_secret]
        return [self.secret]


def event_types(alert: Alert) -> list[str]:
    """Every alert is ``alert.raised``; an escalation is also ``conversation.escalated``."""
    return ["alert.raised", *(["conversation.escalated"] if alert.rule == ESCALATION_RULE else [])]


def delivery_id_for(event_type: str, alert_id: str) -> str:
    """Deterministic, so re-reading an alert after a crash cannot queue it twice; the same across endpoints."""
    return f"msg_{event_type.replace('.', '-')}_{alert_id}"


def payload(event_type: str, timestamp: datetime, data: dict[str, Any]) -> bytes:
    """The Standard Webhooks body: ``{"type", "timestamp", "data"}``, encoded once and sent unchanged."""
    return json.dumps(
        {"type": event_type, "timestamp": timestamp.isoformat(), "data": data}, separators=(",", ":")
    ).encode()


def sign(secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: one ``v1,<base64>`` per secret, space-separated."""
    at = datetime.fromtimestamp(timestamp, UTC)
    return " ".join(Webhook(s).sign(msg_id, at, body.decode()) for s in secrets_)


DeliveryStatus = Literal["pending", "succeeded", "failed"]


class Attempt(BaseModel):
    at: datetime
    status_code: int | None = None
    latency_ms: float
    error: str | None = None
    response: str | None = None  # the first KiB of the receiver's answer, for debugging


class Delivery(BaseModel):
    """One message to one endpoint and the state of its attempts; ``id`` is the ``webhook-id``."""

    id: str
    endpoint_id: str
    event_type: str
    alert_id: str | None = None
    created_at: datetime
    status: DeliveryStatus = "pending"
    attempt_count: int = 0
    retries_used: int = 0  # position in the retry schedule (reset by a re-send)
    retry: bool = True  # test deliveries are tried once
    next_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None


class DeliveryView(Delivery):
    attempts: list[Attempt] = []


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


def _decode(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class WebhookStore:
    """Endpoints and deliveries in Redis. Used by the API and by the dispatcher."""

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
            created_at=_now(),
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
        return [_decode(i) for i in ids]

    async def load(self, endpoint_id: str, delivery_id: str) -> tuple[Delivery, bytes] | None:
        meta, body = await self._redis.hmget(redis_keys.webhook_delivery(endpoint_id, delivery_id), ["meta", "body"])
        if meta is None or body is None:
            return None
        return Delivery.model_validate_json(meta), body if isinstance(body, bytes) else body.encode()

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

    async def release(self, endpoint_id: str, delivery_id: str) -> None:
        """Make a leased delivery due now (an attempt interrupted by shutdown)."""
        await self._redis.zadd(redis_keys.webhook_due(endpoint_id), {delivery_id: time.time()}, xx=True)

    async def deliveries(self, endpoint_id: str, *, limit: int = 50) -> list[DeliveryView]:
        """The newest deliveries first, each with its attempts."""
        raw_ids: list[Any] = await self._redis.zrevrange(redis_keys.webhook_deliveries(endpoint_id), 0, limit - 1)
        ids = [_decode(i) for i in raw_ids]
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


class _Metrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        registry = registry or CollectorRegistry()
        self.attempts = Counter(
            "calmwatch_webhook_attempts_total", "Webhook delivery attempts", ["outcome"], registry=registry
        )
        self.latency = Histogram(
            "calmwatch_webhook_latency_seconds",
            "Time for a receiver to answer a webhook",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )


class WebhookDispatcher:
    """The background side of webhooks: alert stream -> queued deliveries -> attempts. ``run`` until cancelled."""

    def __init__(
        self,
        redis: Redis,
        settings: Settings,
        *,
        client: httpx.AsyncClient | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._redis = redis
        self._settings = settings
        self.store = WebhookStore(redis, settings)
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(settings.webhook_timeout_s),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=max(settings.webhook_max_in_flight, 1)),
            headers={"user-agent": f"Calmwatch-Webhooks/{__version__}"},
        )
        self._owns_client = client is None
        self._consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"
        self._wake = asyncio.Event()
        self._in_flight: dict[str, int] = defaultdict(int)
        self._attempts: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._metrics = _Metrics(registry)

    @property
    def in_flight(self) -> int:
        return len(self._attempts)

    async def start(self) -> None:
        """Create the consumer group (at the stream's end: history is not replayed to new endpoints)."""
        await self._ensure_group()

    async def _ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(redis_keys.ALERTS_STREAM, redis_keys.WEBHOOK_GROUP, id="$", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Fan-out and scheduling until cancelled; attempts in flight are handed back on the way out."""
        try:
            await asyncio.gather(self._fanout_loop(), self._schedule_loop())
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        tasks = dict(self._attempts)
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        for endpoint_id, delivery_id in tasks:
            with contextlib.suppress(Exception):
                await self.store.release(endpoint_id, delivery_id)
        with contextlib.suppress(Exception):
            await self._leave_group()
        if self._owns_client:
            await self._client.aclose()

    async def _leave_group(self) -> None:
        """Remove this process's consumer from the group, so restarts do not pile up consumers; only when it holds
        no unacknowledged alert (deleting a consumer drops its pending entries, which another must claim)."""
        pending = await self._redis.xpending_range(
            redis_keys.ALERTS_STREAM, redis_keys.WEBHOOK_GROUP, min="-", max="+", count=1, consumername=self._consumer
        )
        if not pending:
            await self._redis.xgroup_delconsumer(redis_keys.ALERTS_STREAM, redis_keys.WEBHOOK_GROUP, self._consumer)

    # --- alert stream -> queued deliveries
    async def _fanout_loop(self) -> None:
        backoff = 0.5
        next_claim = 0.0
        while True:
            try:
                if time.monotonic() >= next_claim:
                    await self._claim_abandoned()
                    next_claim = time.monotonic() + CLAIM_IDLE_MS / 1000 / 2
                response: Any = await self._redis.xreadgroup(
                    redis_keys.WEBHOOK_GROUP,
                    self._consumer,
                    {redis_keys.ALERTS_STREAM: ">"},
                    count=FANOUT_BATCH,
                    block=1000,
                )
                for _stream, entries in response or []:
                    await self._fan_out(entries)
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # the stream or group was deleted (e.g. FLUSHDB): start again at the end
                    with contextlib.suppress(Exception):
                        await self._ensure_group()
                    continue
                log.warning("webhook fan-out failed; retrying", error=str(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            except Exception as exc:
                log.warning("webhook fan-out failed; retrying", error=str(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _claim_abandoned(self) -> None:
        """Alerts read by a consumer that died before queueing them (its XACK never came)."""
        start = "0-0"
        while True:
            result: Any = await self._redis.xautoclaim(
                redis_keys.ALERTS_STREAM,
                redis_keys.WEBHOOK_GROUP,
                self._consumer,
                CLAIM_IDLE_MS,
                start_id=start,
                count=100,
            )
            start, entries = _decode(result[0]), result[1]
            if entries:
                await self._fan_out([e for e in entries if e and e[1]])
            if start == "0-0" or not entries:
                return

    async def _fan_out(self, entries: Sequence[Any]) -> None:
        endpoints = [e for e in await self.store.endpoints() if e.enabled]
        for entry_id, fields in entries:
            raw = fields.get(b"alert") or fields.get("alert")
            if raw is not None and endpoints:
                try:
                    alert = Alert.model_validate({"id": _decode(entry_id), **json.loads(raw)})
                except ValueError:
                    log.error("unreadable alert in the stream; not delivered", alert_id=_decode(entry_id))
                else:
                    await self.queue_alert(alert, endpoints)
            await self._redis.xack(redis_keys.ALERTS_STREAM, redis_keys.WEBHOOK_GROUP, entry_id)

    async def queue_alert(self, alert: Alert, endpoints: Sequence[WebhookEndpoint]) -> int:
        """Queue the alert for every endpoint that wants it; returns how many deliveries were queued."""
        queued = 0
        data = alert.model_dump(mode="json")
        for event_type in event_types(alert):
            body = payload(event_type, alert.created_at, data)
            for endpoint in endpoints:
                if not endpoint.wants(event_type, alert):
                    continue
                delivery = Delivery(
                    id=delivery_id_for(event_type, alert.id),
                    endpoint_id=endpoint.id,
                    event_type=event_type,
                    alert_id=alert.id,
                    created_at=_now(),
                    next_attempt_at=_now(),
                )
                schedule = await self.store.pending_count(endpoint.id) < self._settings.webhook_max_pending
                if not schedule:
                    delivery.status, delivery.next_attempt_at = "failed", None
                    delivery.last_error = (
                        f"not queued: the endpoint already has {self._settings.webhook_max_pending} pending deliveries"
                    )
                    log.warning("webhook backlog full; delivery failed at once", endpoint_id=endpoint.id)
                if await self.store.enqueue(endpoint, delivery, body, schedule=schedule):
                    queued += 1
        if queued:
            self._wake.set()
        return queued

    # --- due deliveries -> attempts
    async def _schedule_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._settings.webhook_poll_s)
            self._wake.clear()
            try:
                await self._dispatch_due()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("webhook scheduling failed; retrying", error=str(exc))
                await asyncio.sleep(self._settings.webhook_poll_s)

    async def _dispatch_due(self) -> None:
        lease_s = self._settings.webhook_timeout_s * 2 + 30
        for endpoint in await self.store.endpoints():
            if not endpoint.enabled:
                continue
            room = min(
                self._settings.webhook_endpoint_concurrency - self._in_flight[endpoint.id],
                self._settings.webhook_max_in_flight - len(self._attempts),
            )
            if room <= 0:
                continue
            for delivery_id in await self.store.claim(endpoint.id, room, lease_s):
                self._in_flight[endpoint.id] += 1
                task = asyncio.create_task(self._attempt_claimed(endpoint.id, delivery_id))
                self._attempts[(endpoint.id, delivery_id)] = task
                task.add_done_callback(functools.partial(self._attempt_done, (endpoint.id, delivery_id)))

    def _attempt_done(self, key: tuple[str, str], _task: asyncio.Task[None]) -> None:
        self._attempts.pop(key, None)
        self._in_flight[key[0]] -= 1
        self._wake.set()  # the endpoint's lane is free: its next due delivery can go now

    async def _attempt_claimed(self, endpoint_id: str, delivery_id: str) -> None:
        try:
            endpoint = await self.store.get(endpoint_id)
            loaded = await self.store.load(endpoint_id, delivery_id)
            if endpoint is None or loaded is None or loaded[0].status != "pending":
                await self._redis.zrem(redis_keys.webhook_due(endpoint_id), delivery_id)
                return
            await self.attempt(endpoint, *loaded)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook attempt crashed; it stays queued", endpoint_id=endpoint_id, delivery_id=delivery_id)

    async def attempt(self, endpoint: WebhookEndpoint, delivery: Delivery, body: bytes) -> Attempt:
        """POST the delivery once, record the attempt, and schedule the next one or settle it."""
        now = _now()
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": sign(endpoint.signing_secrets(now), delivery.id, int(now.timestamp()), body),
        }
        started = time.perf_counter()
        status_code: int | None = None
        response_text: str | None = None
        error: str | None = None
        try:
            async with self._client.stream("POST", endpoint.url, content=body, headers=headers) as response:
                status_code = response.status_code
                response_text = await _read_some(response)
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except httpx.TimeoutException:
            error = f"timed out after {self._settings.webhook_timeout_s:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        latency = time.perf_counter() - started
        attempt = Attempt(
            at=now, status_code=status_code, latency_ms=round(latency * 1000, 1), error=error, response=response_text
        )
        self._metrics.attempts.labels(outcome="succeeded" if error is None else "failed").inc()
        self._metrics.latency.observe(latency)
        delivery.attempt_count += 1
        delivery.last_status_code, delivery.last_error = status_code, error
        due_at: float | None = None
        if error is None:
            delivery.status, delivery.next_attempt_at = "succeeded", None
        elif delivery.retry and delivery.retries_used < len(self._settings.webhook_retry_schedule_s):
            delay = self._settings.webhook_retry_schedule_s[delivery.retries_used]
            delivery.retries_used += 1
            due_at = time.time() + delay * random.uniform(1 - JITTER, 1 + JITTER)
            delivery.next_attempt_at = datetime.fromtimestamp(due_at, UTC)
        else:
            delivery.status, delivery.next_attempt_at = "failed", None
        await self.store.record(endpoint.id, delivery, attempt, due_at=due_at)
        await self._note_health(endpoint, ok=error is None, error=error)
        log.info(
            "webhook attempt",
            endpoint_id=endpoint.id,
            webhook_id=delivery.id,
            status_code=status_code,
            error=error,
            latency_ms=attempt.latency_ms,
            next_attempt_at=delivery.next_attempt_at.isoformat() if delivery.next_attempt_at else None,
        )
        return attempt

    async def _note_health(self, seen: WebhookEndpoint, *, ok: bool, error: str | None) -> None:
        """Track failing_since / last success, and disable an endpoint failing too long. A healthy endpoint's
        record is rewritten at most every few seconds, not once per delivery."""
        now = _now()
        limit = self._settings.webhook_disable_after_s
        recent = seen.last_success_at is not None and (now - seen.last_success_at).total_seconds() < HEALTH_WRITE_S
        if ok and seen.failing_since is None and recent:
            return

        def change(endpoint: WebhookEndpoint) -> WebhookEndpoint:
            if ok:
                endpoint.last_success_at, endpoint.failing_since = now, None
                return endpoint
            endpoint.last_failure_at = now
            endpoint.failing_since = endpoint.failing_since or now
            if endpoint.enabled and (now - endpoint.failing_since).total_seconds() >= limit:
                endpoint.enabled = False
                endpoint.disabled_reason = (
                    f"disabled automatically at {now.isoformat(timespec='seconds')}: every attempt failed since "
                    f"{endpoint.failing_since.isoformat(timespec='seconds')} (last error: {error})"
                )
                log.warning("webhook endpoint disabled after failing too long", endpoint_id=endpoint.id)
            return endpoint

        await self.store.update(seen.id, change)

    # --- API helpers
    async def send_test(self, endpoint: WebhookEndpoint) -> DeliveryView:
        """A ``webhook.test`` message attempted right now, once (no retries); it is in the delivery log."""
        now = _now()
        delivery = Delivery(
            id=f"msg_test_{secrets.token_hex(8)}",
            endpoint_id=endpoint.id,
            event_type=TEST_EVENT,
            created_at=now,
            retry=False,
        )
        body = payload(TEST_EVENT, now, {"endpoint_id": endpoint.id, "message": "a test message from Calmwatch"})
        await self.store.enqueue(endpoint, delivery, body, schedule=False)
        await self.attempt(endpoint, delivery, body)
        view = await self.store.delivery(endpoint.id, delivery.id)
        assert view is not None
        return view

    async def resend(self, endpoint_id: str, delivery_id: str) -> DeliveryView | None:
        """Queue a delivery again now, same ``webhook-id`` and body, with a fresh retry schedule."""
        loaded = await self.store.load(endpoint_id, delivery_id)
        if loaded is None:
            return None
        delivery, _ = loaded
        delivery.status, delivery.retries_used, delivery.retry = "pending", 0, True
        delivery.next_attempt_at = _now()
        await self.store.record(endpoint_id, delivery, None, due_at=time.time())
        self._wake.set()
        return await self.store.delivery(endpoint_id, delivery_id)


async def _read_some(response: httpx.Response) -> str:
    """At most RESPONSE_KEPT_BYTES of the answer: a receiver cannot make us buffer a large body."""
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= RESPONSE_KEPT_BYTES:
            break
    return data[:RESPONSE_KEPT_BYTES].decode(errors="replace")
