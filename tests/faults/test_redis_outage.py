"""Issue 20, items 3 and 5: an external Redis SIGKILLed and restarted under a running service.

During the outage requests are answered 503 ``unavailable`` with ``Retry-After`` (and the stream answers
``error`` events with the same code); once Redis is back, no request fails (pooled connections that died with
the old server are replaced, not reported), and a feed that stayed connected gets every alert, including those
raised before the live hub had resubscribed.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from monitor import redis_keys
from monitor.delivery.websockets import LiveHub
from monitor.live import AlertEnvelope, SupervisorFeed
from monitor.runtime import redis_client
from tests.faults.processes import PEOPLE, Service, ValkeyProcess, wait_until
from tests.faults.test_live_feeds import FeedClient
from tests.faults.traffic import CUSTOMER, all_alerts

FURIOUS = CUSTOMER[2]


@pytest.fixture
def service_on_external_redis() -> Iterator[tuple[Service, ValkeyProcess]]:
    with tempfile.TemporaryDirectory(prefix="cw-", dir="/tmp") as tmp:
        server = ValkeyProcess(Path(tmp) / "redis").start()
        try:
            with Service(Path(tmp) / "state", redis_url=server.url) as svc:
                yield svc, server
        finally:
            server.stop()


def _message(cid: str, mid: str, text: str = FURIOUS) -> dict[str, str]:
    return {"conversation_id": cid, "message_id": mid, "role": "customer", "text": text}


async def _burst(base: str, n: int) -> list[int]:
    """``n`` concurrent requests of every kind the service serves from Redis; their status codes."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        calls = []
        for i in range(n):
            kind = i % 4
            if kind == 0:
                calls.append(client.post("/v1/messages", json=_message("warm", f"b{i}", "hello there")))
            elif kind == 1:
                calls.append(client.get("/v1/alerts"))
            elif kind == 2:
                calls.append(client.get("/v1/conversations/warm"))
            else:
                calls.append(client.get("/v1/conversations"))
        return [r.status_code for r in await asyncio.gather(*calls)]


def _start(base: str, cid: str) -> None:
    httpx.post(f"{base}/v1/conversations", json={"conversation_id": cid, **PEOPLE}, timeout=10).raise_for_status()


@pytest.mark.slow
def test_redis_down_is_503_unavailable_with_retry_after(
    service_on_external_redis: tuple[Service, ValkeyProcess],
) -> None:
    """While Redis is down, REST answers 503 unavailable with Retry-After and the stream answers error events."""
    service, server = service_on_external_redis
    _start(service.http, "c1")
    with connect(f"{service.ws}/v1/stream", open_timeout=10) as ws:  # a connector's stream, open before the outage
        server.kill()
        answer = httpx.post(f"{service.http}/v1/messages", json=_message("c1", "m1"), timeout=30)
        ws.send(json.dumps({"type": "message", **_message("c1", "m2")}))
        event = json.loads(ws.recv(timeout=30))
    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "unavailable" and float(answer.headers["retry-after"]) >= 1
    assert event["type"] == "error" and event["code"] == "unavailable", event
    assert event["message_id"] == "m2" and event["retry_after_s"] >= 1
    ready = httpx.get(f"{service.http}/readyz", timeout=30)
    assert ready.status_code == 503


@pytest.mark.slow
def test_after_a_redis_restart_nothing_fails_and_connected_feeds_miss_nothing(
    service_on_external_redis: tuple[Service, ValkeyProcess],
) -> None:
    """kill -9 Redis, restart it: the service recovers by itself, then 0 of 60 requests fail, 0 alerts are missed."""
    service, server = service_on_external_redis
    _start(service.http, "warm")
    assert set(asyncio.run(_burst(service.http, 40))) == {200}  # many pooled connections, all to the old server
    feed = FeedClient(f"{service.ws}/v1/alerts")
    try:
        server.kill()
        server.start()
        wait_until(lambda: httpx.get(f"{service.http}/readyz", timeout=5).status_code == 200, what="recovery")
        raised = 0
        for c in range(10):  # at once after the restart, before the hub's resubscribe backoff is over
            _start(service.http, f"after{c}")
            reply = httpx.post(f"{service.http}/v1/messages", json=_message(f"after{c}", "m1"), timeout=10)
            assert reply.status_code == 200, service.log()
            raised += len(reply.json()["alerts"])
        statuses = asyncio.run(_burst(service.http, 60))
        assert statuses.count(200) == 60, (statuses, service.log())
        stored = [a["id"] for a in all_alerts(service.http)]
        assert raised > 0 and len(stored) == raised
        wait_until(lambda: len(feed.alert_ids) >= raised, what="the feed to catch up", timeout_s=15)
    finally:
        feed.close()
    assert sorted(feed.alert_ids) == sorted(stored)


async def test_the_hub_dispatches_alerts_published_while_it_was_not_subscribed(flushed_redis: str) -> None:
    """An alert committed while the hub's subscription is cut reaches a connected client after the resubscribe."""
    client = redis_client(flushed_redis)
    hub = LiveHub(client)
    sub = hub.subscribe(SupervisorFeed.including())
    task = asyncio.create_task(hub.run())
    try:
        await asyncio.wait_for(hub.ready.wait(), timeout=10)
        await client.client_kill_filter(_type="pubsub")  # the subscription drops, as in a Redis restart
        body = {
            "rule": "anger", "severity": "warning", "conversation_id": "c1", "message_id": "m1", "agent_id": "a1",
            "customer_name": "Ana", "audience": ["supervisor"], "nudge": "", "reason": "r",
            "created_at": "2026-01-05T09:00:00+00:00",
        }  # fmt: skip
        alert_id = await client.xadd(redis_keys.ALERTS_STREAM, {"alert": json.dumps(body)})  # committed, never heard
        envelope = await asyncio.wait_for(sub.queue.get(), timeout=10)
        assert isinstance(envelope, AlertEnvelope) and envelope.alert.id == alert_id
        assert hub.resubscribes == 1
        hub.dispatch(envelope)  # the same alert again (re-read, or published twice) is not sent twice
        assert sub.queue.empty()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.aclose()
