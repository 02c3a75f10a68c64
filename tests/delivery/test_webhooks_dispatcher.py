"""The dispatcher end to end: a real service, a real Redis and real HTTP receivers: nothing lost across
restarts, slow endpoints hold only their own lane, failing ones are retried, disabled and re-sent."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from monitor import redis_keys
from monitor.delivery.webhooks import WebhookDispatcher
from monitor.delivery.webhooks.models import WebhookEndpoint
from monitor.schemas import Alert
from tests.conftest import make_settings
from tests.delivery.webhook_receiver import Receiver, angry, create_endpoint, serve, start, wait_for
from tests.fakes import SwallowsOneCancellation


def _alert(alert_id: str) -> Alert:
    return Alert(id=alert_id, rule="anger", severity="warning", conversation_id="c", message_id="m", agent_id="a",
                 audience=["agent"], nudge="n", reason="r", created_at=datetime.now(UTC))  # fmt: skip


def test_receiver_down_across_a_service_restart_gets_every_alert_with_its_original_id(
    flushed_redis: str, receiver: Receiver
) -> None:
    """With the receiver down while alerts are raised and the service restarted in between, every alert arrives
    once the receiver is back, each validly signed and with the webhook-id its failed attempts had."""
    with serve(flushed_redis) as server, httpx.Client(base_url=server.http) as client:
        endpoint = create_endpoint(client, receiver)
        receiver.stop()  # connection refused from now on
        alert_ids = []
        for n in range(3):
            start(client, f"c{n}")
            alert_ids += [a["id"] for a in angry(client, f"c{n}")]

        def failed_ids() -> list[str]:
            log = client.get(f"/v1/webhooks/{endpoint['id']}/deliveries").json()
            return [d["id"] for d in log if d["attempts"] and d["attempts"][-1]["error"]]

        before = set(wait_for(lambda: len(failed_ids()) == len(alert_ids) and failed_ids(), what="failed attempts"))
        log = client.get(f"/v1/webhooks/{endpoint['id']}/deliveries").json()
        assert all(d["status"] == "pending" and d["next_attempt_at"] for d in log)
        assert all("Connect" in d["attempts"][0]["error"] for d in log)
    with serve(flushed_redis) as server:
        receiver.start()  # back, on the same port
        wait_for(lambda: {b["data"]["id"] for b in receiver.bodies()} >= set(alert_ids), what="every alert")
        assert all(r["verified_by"] == [endpoint["secret"]] for r in receiver.received)
        assert set(receiver.ids()) == before
        assert len(receiver.ids()) >= len(alert_ids)  # at least once; a receiver deduplicates on webhook-id


def test_alerts_written_while_no_dispatcher_ran_are_delivered_at_start(flushed_redis: str, receiver: Receiver) -> None:
    """The consumer group remembers where it was: an alert appended to the stream while the service was down,
    and one read by a consumer that died before queueing it, are both delivered by the next service."""
    import monitor.delivery.webhooks.dispatcher as dispatcher_module

    with serve(flushed_redis) as server, httpx.Client(base_url=server.http) as client:
        create_endpoint(client, receiver)
    sync = redis.Redis.from_url(flushed_redis, decode_responses=True)
    body = {
        "rule": "anger",
        "severity": "warning",
        "conversation_id": "c1",
        "message_id": "m1",
        "agent_id": "a1",
        "audience": ["agent"],
        "nudge": "stay calm",
        "reason": "anger 0.9",
        "created_at": datetime.now(UTC).isoformat(),
    }
    lost = sync.xadd(redis_keys.ALERTS_STREAM, {"alert": json.dumps(body)})
    sync.xreadgroup(
        redis_keys.WEBHOOK_GROUP, "a-consumer-that-crashed", {redis_keys.ALERTS_STREAM: ">"}
    )  # read, never acked
    waiting = sync.xadd(redis_keys.ALERTS_STREAM, {"alert": json.dumps({**body, "message_id": "m2"})})
    sync.close()
    original = dispatcher_module.CLAIM_IDLE_MS
    dispatcher_module.CLAIM_IDLE_MS = 1
    try:
        with serve(flushed_redis):
            wait_for(lambda: {b["data"]["id"] for b in receiver.bodies()} >= {lost, waiting}, what="both alerts")
    finally:
        dispatcher_module.CLAIM_IDLE_MS = original
    assert all(r["verified_by"] for r in receiver.received)


def test_slow_endpoint_never_delays_other_endpoints_or_the_pipeline(flushed_redis: str) -> None:
    """While one receiver holds its request open, the message is answered and another endpoint gets its
    delivery; the held one completes afterwards."""
    slow, fast = Receiver().start(), Receiver().start()
    slow.gate = threading.Event()
    try:
        with serve(flushed_redis, webhook_timeout_s=30.0) as server, httpx.Client(base_url=server.http) as client:
            create_endpoint(client, slow)
            create_endpoint(client, fast)
            start(client, "c1")
            angry(client, "c1")  # answered although the slow receiver is holding its delivery
            wait_for(lambda: fast.bodies(), what="the fast endpoint's delivery")
            assert slow.bodies() == []  # still held: the fast one did not wait for it
            slow.gate.set()
            wait_for(lambda: slow.bodies(), what="the slow endpoint's delivery")
            assert slow.received[0]["verified_by"] and fast.received[0]["verified_by"]
    finally:
        slow.gate.set()
        slow.stop()
        fast.stop()


def test_rule_and_severity_filters(flushed_redis: str, receiver: Receiver) -> None:
    """An endpoint filtered to another rule, or to a higher severity, gets nothing; an unfiltered one gets it."""
    other, strict = Receiver().start(), Receiver().start()
    try:
        with serve(flushed_redis) as server, httpx.Client(base_url=server.http) as client:
            create_endpoint(client, receiver, rules=["anger"])
            create_endpoint(client, other, rules=["frustration"])
            create_endpoint(client, strict, min_severity="critical")
            start(client, "c1")
            alerts = angry(client, "c1")
            assert any(a["rule"] == "anger" and a["severity"] != "critical" for a in alerts)
            wait_for(lambda: receiver.bodies(), what="the matching delivery")
            assert {b["data"]["rule"] for b in receiver.bodies()} == {"anger"}
            r = client.post("/v1/webhooks/test-flush-does-not-exist/test")
            assert r.status_code == 404
            # once the scheduler has had every chance, the filtered endpoints still have nothing queued or sent
            for endpoint in client.get("/v1/webhooks").json()[1:]:
                assert client.get(f"/v1/webhooks/{endpoint['id']}/deliveries").json() == []
            assert other.received == [] and strict.received == []
    finally:
        other.stop()
        strict.stop()


def test_failing_endpoint_is_disabled_and_says_why(flushed_redis: str, receiver: Receiver) -> None:
    """An endpoint answering 500 for longer than the disable threshold is disabled with a reason; re-enabling
    clears it."""
    receiver.status = 500
    with serve(flushed_redis, webhook_disable_after_s=0.5) as server, httpx.Client(base_url=server.http) as client:
        endpoint = create_endpoint(client, receiver)
        start(client, "c1")
        angry(client, "c1")
        url = f"/v1/webhooks/{endpoint['id']}"
        disabled = wait_for(lambda: (e := client.get(url).json()) and not e["enabled"] and e, what="auto-disable")
        assert "every attempt failed since" in disabled["disabled_reason"] and "HTTP 500" in disabled["disabled_reason"]
        assert disabled["failing_since"] and disabled["pending_deliveries"] == 1
        receiver.status = 200
        enabled = client.patch(url, json={"enabled": True}).json()
        assert enabled["enabled"] and enabled["disabled_reason"] is None and enabled["failing_since"] is None
        wait_for(lambda: client.get(url).json()["pending_deliveries"] == 0, what="the queued delivery to resume")
        assert receiver.received[-1]["verified_by"]


def test_failed_delivery_can_be_resent_with_the_same_id(flushed_redis: str, receiver: Receiver) -> None:
    """With no retries left a delivery is `failed` with its attempt logged; re-sending it delivers the same
    webhook-id and body."""
    receiver.status = 503
    with serve(flushed_redis, webhook_retry_schedule_s=[]) as server, httpx.Client(base_url=server.http) as client:
        endpoint = create_endpoint(client, receiver)
        start(client, "c1")
        angry(client, "c1")
        log_url = f"/v1/webhooks/{endpoint['id']}/deliveries"
        [failed] = wait_for(lambda: [d for d in client.get(log_url).json() if d["status"] == "failed"], what="failure")
        assert failed["attempts"][0]["status_code"] == 503 and failed["attempts"][0]["error"] == "HTTP 503"
        first_body = receiver.bodies()[0]
        receiver.status = 200
        r = client.post(f"{log_url}/{failed['id']}/resend")
        assert r.status_code == 202 and r.json()["status"] == "pending"
        done = wait_for(lambda: (d := client.get(f"{log_url}/{failed['id']}").json())["status"] == "succeeded" and d,
                        what="the re-sent delivery")  # fmt: skip
        assert [a["status_code"] for a in done["attempts"]] == [503, 200]
        assert receiver.ids() == [failed["id"], failed["id"]]
        assert receiver.bodies()[1] == first_body and receiver.received[1]["verified_by"]


async def test_each_failure_is_rescheduled_with_jittered_backoff_then_fails(flushed_redis: str) -> None:
    """After each failed attempt the next is due after the schedule's delay +-20 %; after the last it is
    `failed` and off the due set. The webhook-id and body never change."""
    seen: list[tuple[str, bytes]] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        seen.append((request.headers["webhook-id"], request.content))
        return httpx.Response(500, text="down")

    redis_client = AsyncRedis.from_url(flushed_redis, decode_responses=True)
    settings = make_settings(flushed_redis, webhook_retry_schedule_s=[100.0, 1000.0])
    http = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    dispatcher = WebhookDispatcher(redis_client, settings, client=http)
    try:
        endpoint = await dispatcher.store.create("http://receiver.invalid/hook", ["alert.raised"])
        alert = _alert("5-0")
        assert await dispatcher.queue_alert(alert, [endpoint]) == 1
        assert await dispatcher.queue_alert(alert, [endpoint]) == 0  # the same alert again queues nothing
        for delay in (100.0, 1000.0, None):
            [delivery_id] = await dispatcher.store.claim(endpoint.id, 5, lease_s=30)
            loaded = await dispatcher.store.load(endpoint.id, delivery_id)
            assert loaded is not None
            before = time.time()
            await dispatcher.attempt(endpoint, *loaded)
            view = await dispatcher.store.delivery(endpoint.id, delivery_id)
            assert view is not None and view.attempts[-1].response == "down"
            due = await redis_client.zscore(redis_keys.webhook_due(endpoint.id), delivery_id)
            if delay is None:
                assert view.status == "failed" and view.next_attempt_at is None and due is None
            else:
                assert view.status == "pending" and due is not None
                assert before + 0.8 * delay - 1 <= due <= time.time() + 1.2 * delay
                await redis_client.zadd(redis_keys.webhook_due(endpoint.id), {delivery_id: 0})  # make it due now
        assert len(seen) == 3 and len(set(seen)) == 1 and seen[0][0] == "msg_alert-raised_5-0"
    finally:
        await http.aclose()
        await redis_client.aclose()


def test_a_stopped_service_leaves_no_consumer_behind(flushed_redis: str) -> None:
    """Each service process reads alerts as its own consumer; a clean stop removes it, so restarts do not pile up
    consumers in the group."""
    for _ in range(2):
        with serve(flushed_redis):
            pass
    sync = redis.Redis.from_url(flushed_redis, decode_responses=True)
    try:
        assert sync.xinfo_consumers(redis_keys.ALERTS_STREAM, redis_keys.WEBHOOK_GROUP) == []
        assert [g["name"] for g in sync.xinfo_groups(redis_keys.ALERTS_STREAM)] == [redis_keys.WEBHOOK_GROUP]
    finally:
        sync.close()


def test_two_service_processes_share_the_work_without_double_sending(flushed_redis: str, receiver: Receiver) -> None:
    """Two services on one Redis (scale-out): alerts raised on either are delivered once each, whichever
    process's dispatcher reads or attempts them."""
    with serve(flushed_redis) as first, serve(flushed_redis) as second:
        with httpx.Client(base_url=first.http) as one, httpx.Client(base_url=second.http) as two:
            create_endpoint(one, receiver)
            alert_ids = []
            for n in range(6):
                client = one if n % 2 else two
                start(client, f"c{n}")
                alert_ids += [a["id"] for a in angry(client, f"c{n}")]
        wait_for(lambda: len(receiver.received) >= len(alert_ids), what="every alert")
        assert sorted(b["data"]["id"] for b in receiver.bodies()) == sorted(alert_ids)
        assert len(set(receiver.ids())) == len(receiver.ids()) and all(r["verified_by"] for r in receiver.received)


Queued = tuple[WebhookDispatcher, WebhookEndpoint, AsyncRedis]
QUEUED_ID = "msg_alert-raised_7-0"


@pytest.fixture
async def queued(flushed_redis: str, receiver: Receiver) -> AsyncIterator[Queued]:
    """A started dispatcher, not yet running, with one alert queued for ``receiver`` (delivery ``QUEUED_ID``); and
    its Redis client."""
    redis_client = AsyncRedis.from_url(flushed_redis, decode_responses=True)
    dispatcher = WebhookDispatcher(redis_client, make_settings(flushed_redis, webhook_poll_s=0.05))
    try:
        await dispatcher.start()
        endpoint = await dispatcher.store.create(f"http://127.0.0.1:{receiver.port}/hook", ["alert.raised"])
        receiver.secrets = endpoint.signing_secrets(datetime.now(UTC))
        assert await dispatcher.queue_alert(_alert("7-0"), [endpoint]) == 1
        yield dispatcher, endpoint, redis_client
    finally:
        await redis_client.aclose()


async def test_a_scheduling_loop_that_swallows_its_cancellation_leaves_no_delivery_leased(
    queued: Queued, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-py can swallow a cancellation (see monitor.background). The scheduling loop here swallows it inside
    a claim, so it claims a delivery while the dispatcher is stopping. That delivery must be attempted with a
    client still open, or handed back due now, never left leased (undelivered for a whole lease after a restart)
    with its attempt crashed on a closed client."""
    import asyncio

    dispatcher, endpoint, redis_client = queued
    claim = SwallowsOneCancellation(dispatcher.store.claim)
    monkeypatch.setattr(dispatcher.store, "claim", claim)
    crashes: list[str] = []
    real_attempt = dispatcher.attempt

    async def attempt_noting_crashes(*args: Any) -> Any:
        try:
            return await real_attempt(*args)
        except Exception as exc:
            crashes.append(repr(exc))
            raise

    monkeypatch.setattr(dispatcher, "attempt", attempt_noting_crashes)
    running = asyncio.create_task(dispatcher.run())
    await claim.cancel_inside(running)
    assert crashes == []
    view = await dispatcher.store.delivery(endpoint.id, QUEUED_ID)
    due = await redis_client.zscore(redis_keys.webhook_due(endpoint.id), QUEUED_ID)
    assert view is not None
    assert view.status == "succeeded" or (due is not None and due <= time.time()), (view, due)


async def test_a_crashed_attempt_is_tried_again_soon_not_after_its_lease(
    queued: Queued, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attempt that raises (a bug, not a failed POST) is handed back for CRASH_RETRY_S, and then delivered;
    left leased it would wait 40 s here."""
    import asyncio

    import monitor.delivery.webhooks.dispatcher as dispatcher_module

    monkeypatch.setattr(dispatcher_module, "CRASH_RETRY_S", 0.2)
    dispatcher = queued[0]
    real_attempt, calls = dispatcher.attempt, []

    async def crash_once(*args: Any) -> Any:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RuntimeError("a bug in the attempt")
        return await real_attempt(*args)

    monkeypatch.setattr(dispatcher, "attempt", crash_once)
    running = asyncio.create_task(dispatcher.run())
    try:
        for _ in range(200):  # 10 s, far below the 40 s lease
            if receiver.ids():
                break
            await asyncio.sleep(0.05)
        assert receiver.ids() == [QUEUED_ID] and len(calls) == 2
        assert receiver.received[0]["verified_by"]
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
