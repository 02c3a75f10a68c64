"""The background side of webhooks: alert stream -> queued deliveries -> attempts (see the package docstring
for why nothing is lost). The retry policy itself is :func:`monitor.delivery.webhooks.retry.next_attempt_at`."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import secrets
import socket
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from monitor import __version__, redis_keys
from monitor.alerts import AlertLog
from monitor.background import cancel_and_wait, run_loops
from monitor.delivery.webhooks.models import (
    FEEDBACK_EVENT,
    TEST_EVENT,
    Attempt,
    Delivery,
    DeliveryView,
    WebhookEndpoint,
    delivery_id_for,
    event_types,
)
from monitor.delivery.webhooks.retry import next_attempt_at
from monitor.delivery.webhooks.signing import payload, sign
from monitor.delivery.webhooks.store import WebhookStore
from monitor.schemas import Alert, Feedback
from monitor.settings import Settings

log = structlog.get_logger("delivery.webhooks")

RESPONSE_KEPT_BYTES = 1024
FANOUT_BATCH = 100
#: An alert read by a consumer that then vanished is claimed by another after this long.
CLAIM_IDLE_MS = 60_000
#: The streams the consumer group ``webhooks`` reads: alerts become ``alert.raised`` (and escalations), verdicts
#: ``alert.feedback``.
_STREAMS = (redis_keys.ALERTS_STREAM, redis_keys.FEEDBACK_STREAM)
#: An attempt that crashed (a bug, not a failed POST) is tried again after this long.
CRASH_RETRY_S = 5.0
#: A healthy endpoint's last_success_at is refreshed at most this often.
HEALTH_WRITE_S = 5.0


def _now() -> datetime:
    return datetime.now(UTC)


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
        self._closing = False
        self._metrics = _Metrics(registry)

    async def start(self) -> None:
        """Create the consumer groups (at the streams' ends: history is not replayed to new endpoints)."""
        for stream in _STREAMS:
            await self._ensure_group(stream)

    async def _ensure_group(self, stream: str) -> None:
        try:
            await self._redis.xgroup_create(stream, redis_keys.WEBHOOK_GROUP, id="$", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Fan-out and scheduling until cancelled; attempts in flight are handed back on the way out, after every
        loop has ended (:func:`~monitor.background.run_loops`): a scheduling loop still running would claim
        deliveries for a closed HTTP client, each of them then leased, so undelivered for a whole lease."""
        await run_loops(
            {
                "webhook-alerts": self._fanout_loop(redis_keys.ALERTS_STREAM, self._fan_out),
                "webhook-feedback": self._fanout_loop(redis_keys.FEEDBACK_STREAM, self._fan_out_feedback),
                "webhook-schedule": self._schedule_loop(),
            },
            stopping=self._stop_claiming,
            then=self._shutdown,
        )

    def _stop_claiming(self) -> None:
        self._closing = True  # no attempt starts from here on

    async def _shutdown(self) -> None:
        tasks = dict(self._attempts)
        await cancel_and_wait(tasks.values())
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
        for stream in _STREAMS:
            pending = await self._redis.xpending_range(
                stream, redis_keys.WEBHOOK_GROUP, min="-", max="+", count=1, consumername=self._consumer
            )
            if not pending:
                await self._redis.xgroup_delconsumer(stream, redis_keys.WEBHOOK_GROUP, self._consumer)

    # --- alert stream and feedback log -> queued deliveries
    async def _fanout_loop(self, stream: str, fan_out: Callable[[Sequence[Any]], Awaitable[None]]) -> None:
        backoff = 0.5
        next_claim = 0.0
        while True:
            try:
                if time.monotonic() >= next_claim:
                    await self._claim_abandoned(stream, fan_out)
                    next_claim = time.monotonic() + CLAIM_IDLE_MS / 1000 / 2
                response: Any = await self._redis.xreadgroup(
                    redis_keys.WEBHOOK_GROUP,
                    self._consumer,
                    {stream: ">"},
                    count=FANOUT_BATCH,
                    block=1000,
                )
                for _stream, entries in response or []:
                    await fan_out(entries)
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                    # the stream or group was deleted (e.g. FLUSHDB): start again at the end
                    with contextlib.suppress(Exception):
                        await self._ensure_group(stream)
                    continue
                log.warning("webhook fan-out failed; retrying", error=str(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _claim_abandoned(self, stream: str, fan_out: Callable[[Sequence[Any]], Awaitable[None]]) -> None:
        """Entries read by a consumer that died before queueing them (its XACK never came)."""
        start = "0-0"
        while True:
            result: Any = await self._redis.xautoclaim(
                stream,
                redis_keys.WEBHOOK_GROUP,
                self._consumer,
                CLAIM_IDLE_MS,
                start_id=start,
                count=100,
            )
            start, entries = result[0], result[1]
            if entries:
                await fan_out([e for e in entries if e and e[1]])
            if start == "0-0" or not entries:
                return

    async def _fan_out(self, entries: Sequence[Any]) -> None:
        endpoints = [e for e in await self.store.endpoints() if e.enabled]
        for entry_id, fields in entries:
            raw = fields.get("alert")
            if raw is not None and endpoints:
                try:
                    alert = Alert.model_validate({"id": entry_id, **json.loads(raw)})
                except ValueError:
                    log.error("unreadable alert in the stream; not delivered", alert_id=entry_id)
                else:
                    await self.queue_alert(alert, endpoints)
            await self._redis.xack(redis_keys.ALERTS_STREAM, redis_keys.WEBHOOK_GROUP, entry_id)

    async def queue_alert(self, alert: Alert, endpoints: Sequence[WebhookEndpoint]) -> int:
        """Queue the alert for every endpoint that wants it; returns how many deliveries were queued."""
        queued = 0
        data = alert.model_dump(mode="json")
        for event_type in event_types(alert):
            body = payload(event_type, alert.created_at, data)
            queued += await self._queue(event_type, delivery_id_for(event_type, alert.id), alert, body, endpoints)
        return queued

    async def _fan_out_feedback(self, entries: Sequence[Any]) -> None:
        """Verdicts from the feedback log (``cw:{feedback}:log``), read like alerts through the consumer group, so
        a verdict stored just before a crash is still sent."""
        endpoints = [e for e in await self.store.endpoints() if e.enabled]
        for entry_id, fields in entries:
            raw = fields.get("feedback")
            if raw is not None and endpoints:
                try:
                    feedback = Feedback.model_validate_json(raw)
                except ValueError:
                    log.error("unreadable feedback in the log; not delivered", entry_id=entry_id)
                else:
                    found = await AlertLog(self._redis).get_many([feedback.alert_id])
                    if found:  # an alert already trimmed from the stream has nothing left to send
                        await self.queue_feedback(found[0], feedback, entry_id, endpoints)
            await self._redis.xack(redis_keys.FEEDBACK_STREAM, redis_keys.WEBHOOK_GROUP, entry_id)

    async def queue_feedback(
        self, alert: Alert, feedback: Feedback, entry_id: str, endpoints: Sequence[WebhookEndpoint]
    ) -> int:
        """Queue an ``alert.feedback`` event for every endpoint that wants it and the alert's rule and severity.
        ``entry_id`` (the verdict's feedback-log id) makes the delivery id, so each verdict is its own message and
        re-reading it after a crash queues nothing twice."""
        data = {"alert": alert.model_dump(mode="json"), "feedback": feedback.model_dump(mode="json")}
        body = payload(FEEDBACK_EVENT, feedback.at, data)
        return await self._queue(FEEDBACK_EVENT, delivery_id_for(FEEDBACK_EVENT, entry_id), alert, body, endpoints)

    async def _queue(
        self, event_type: str, delivery_id: str, alert: Alert, body: bytes, endpoints: Sequence[WebhookEndpoint]
    ) -> int:
        queued = 0
        for endpoint in endpoints:
            if not endpoint.wants(event_type, alert):
                continue
            delivery = Delivery(
                id=delivery_id,
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
            if self._closing:
                return
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
            # Handed back rather than left leased: otherwise it would wait out the whole lease (a minute or more).
            log.exception(
                "webhook attempt crashed; it stays queued", endpoint_id=endpoint_id, delivery_id=delivery_id,
                retry_in_s=CRASH_RETRY_S,
            )  # fmt: skip
            with contextlib.suppress(Exception):
                await self.store.release(endpoint_id, delivery_id, delay_s=CRASH_RETRY_S)

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
        else:
            if delivery.retry:  # test deliveries are tried once
                schedule = self._settings.webhook_retry_schedule_s
                due_at = next_attempt_at(delivery.retries_used, schedule, now=time.time())
            if due_at is None:
                delivery.status, delivery.next_attempt_at = "failed", None
            else:
                delivery.retries_used += 1
                delivery.next_attempt_at = datetime.fromtimestamp(due_at, UTC)
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
