"""The webhook store on a real Redis: endpoints, idempotent enqueueing, leased claims and the delivery log."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from monitor import redis_keys
from monitor.delivery.webhooks.models import Attempt, Delivery
from monitor.delivery.webhooks.store import WebhookStore
from tests.conftest import make_settings


@pytest.fixture
async def store(flushed_redis: str) -> AsyncIterator[WebhookStore]:
    redis = Redis.from_url(flushed_redis, decode_responses=True)
    yield WebhookStore(redis, make_settings(flushed_redis))
    await redis.aclose()


def delivery(endpoint_id: str, delivery_id: str = "msg_alert-raised_1-0") -> Delivery:
    now = datetime.now(UTC)
    return Delivery(id=delivery_id, endpoint_id=endpoint_id, event_type="alert.raised", created_at=now)


async def test_endpoints_are_created_listed_updated_and_deleted(store: WebhookStore) -> None:
    """An endpoint gets an id and a secret, is listed oldest first, changes under update(), and delete() takes
    its queue with it."""
    first = await store.create("http://a.invalid/hook", ["alert.raised", "alert.raised"], description="one")
    second = await store.create("http://b.invalid/hook", ["conversation.escalated"], min_severity="critical")
    assert first.id.startswith("ep_") and first.secret.startswith("whsec_") and first.events == ["alert.raised"]
    assert [e.id for e in await store.endpoints()] == [first.id, second.id]
    assert await store.get(first.id) == first
    changed = await store.update(first.id, lambda e: e.model_copy(update={"description": "renamed"}))
    assert changed is not None and (await store.get(first.id)) == changed and changed.description == "renamed"
    assert await store.update("ep_missing", lambda e: e) is None
    await store.enqueue(first, delivery(first.id), b"{}", schedule=True)
    assert await store.delete(first.id) and not await store.delete(first.id)
    assert await store.get(first.id) is None and await store.pending_count(first.id) == 0


async def test_enqueue_is_idempotent_and_keeps_the_exact_body(store: WebhookStore) -> None:
    """The same delivery id queues once; load() returns the bytes written, whatever happens to the record."""
    endpoint = await store.create("http://a.invalid/hook", ["alert.raised"])
    body = '{"type":"alert.raised","data":{"text":"Zoë"}}'.encode()
    assert await store.enqueue(endpoint, delivery(endpoint.id), body, schedule=True)
    assert not await store.enqueue(endpoint, delivery(endpoint.id), b"other", schedule=True)
    loaded = await store.load(endpoint.id, "msg_alert-raised_1-0")
    assert loaded is not None and loaded[1] == body and loaded[0].status == "pending"
    assert await store.pending_count(endpoint.id) == 1
    assert await store.load(endpoint.id, "msg_missing") is None


async def test_a_claim_is_a_lease(store: WebhookStore) -> None:
    """A claimed delivery is not claimable again until its lease ends; release() makes it due at once, and
    an unscheduled one is in the log but never claimed."""
    endpoint = await store.create("http://a.invalid/hook", ["alert.raised"])
    await store.enqueue(endpoint, delivery(endpoint.id, "msg_1"), b"{}", schedule=True)
    await store.enqueue(endpoint, delivery(endpoint.id, "msg_2"), b"{}", schedule=False)
    assert await store.claim(endpoint.id, 10, lease_s=60) == ["msg_1"]
    assert await store.claim(endpoint.id, 10, lease_s=60) == []
    leased_until = await store._redis.zscore(redis_keys.webhook_due(endpoint.id), "msg_1")
    assert leased_until is not None and leased_until > time.time() + 50
    await store.release(endpoint.id, "msg_1")
    assert await store.claim(endpoint.id, 10, lease_s=60) == ["msg_1"]
    assert {d.id for d in await store.deliveries(endpoint.id)} == {"msg_1", "msg_2"}


async def test_record_saves_attempts_and_moves_the_due_time(store: WebhookStore) -> None:
    """record() appends the attempt to the delivery's log, and puts it back on the due set or takes it off."""
    endpoint = await store.create("http://a.invalid/hook", ["alert.raised"])
    pending = delivery(endpoint.id)
    await store.enqueue(endpoint, pending, b"{}", schedule=True)
    attempt = Attempt(at=datetime.now(UTC), status_code=500, latency_ms=3.0, error="HTTP 500", response="nope")
    pending.attempt_count = 1
    await store.record(endpoint.id, pending, attempt, due_at=time.time() + 300)
    view = await store.delivery(endpoint.id, pending.id)
    assert view is not None and view.attempt_count == 1 and [a.error for a in view.attempts] == ["HTTP 500"]
    assert await store.claim(endpoint.id, 10, lease_s=60) == []  # due in five minutes, not now
    pending.status = "failed"
    await store.record(endpoint.id, pending, None, due_at=None)
    assert await store.pending_count(endpoint.id) == 0
    [listed] = await store.deliveries(endpoint.id)
    assert listed.status == "failed" and len(listed.attempts) == 1
