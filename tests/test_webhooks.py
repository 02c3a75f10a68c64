"""Webhooks end to end: a real service, a real Redis, and a real HTTP receiver that checks every delivery with a
signature check written from the Standard Webhooks specification (not with the code that signs)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import redis

from monitor import redis_keys
from monitor.delivery.webhooks import WebhookEndpoint, event_types
from monitor.schemas import Alert
from tests.conftest import LiveServer, free_port, make_settings
from tests.fakes import KeywordScorer

ANGRY = "This is ridiculous and unacceptable, I am furious"
FAST_RETRIES = [0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]
TOLERANCE_S = 5 * 60  # the specification's recommended timestamp tolerance


def spec_verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks: base64 HMAC-SHA256 over ``{id}.{timestamp}.{body}`` with the base64-decoded secret
    (after ``whsec_``); the header holds space-separated ``v1,<sig>`` entries; the timestamp must be recent."""
    msg_id, timestamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
    signature_header = headers.get("webhook-signature")
    if not msg_id or not timestamp or not signature_header:
        return False
    if abs(time.time() - int(timestamp)) > TOLERANCE_S:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest())
    for entry in signature_header.split(" "):
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            return True
    return False


class Receiver:
    """A webhook receiver on a real port. ``status`` is what it answers; ``gate`` (if set) holds each request
    until released; ``secrets`` are what it verifies with. It can be stopped and restarted on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.secrets: list[str] = []
        self.status = 200
        self.gate: threading.Event | None = None
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                if receiver.gate is not None:
                    receiver.gate.wait(timeout=30)
                verified = [s for s in receiver.secrets if spec_verify(s, headers, body)]
                with receiver._lock:
                    receiver.received.append(
                        {"headers": headers, "raw": body, "body": json.loads(body), "verified_by": verified}
                    )
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok" if receiver.status < 300 else b"nope")

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def bodies(self, event_type: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [r["body"] for r in self.received if event_type is None or r["body"]["type"] == event_type]

    def ids(self) -> list[str]:
        with self._lock:
            return [r["headers"]["webhook-id"] for r in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    if r.gate is not None:
        r.gate.set()
    r.stop()


def wait_for(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll until ``check()`` is truthy; fail with ``what`` after ``timeout`` (never asserts on timing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def start(client: httpx.Client, cid: str, agent: str = "a1") -> None:
    r = client.post("/v1/conversations", json={"conversation_id": cid, "customer": {"id": "u-" + cid, "name": "Maria"},
                                               "agent": {"id": agent, "name": "Sam"}})  # fmt: skip
    assert r.status_code in (200, 201), r.text


def angry(client: httpx.Client, cid: str, mid: str = "m1") -> list[dict[str, Any]]:
    r = client.post("/v1/messages", json={"conversation_id": cid, "message_id": mid, "role": "customer", "text": ANGRY})
    assert r.status_code == 200, r.text
    alerts: list[dict[str, Any]] = r.json()["alerts"]
    return alerts


def create_endpoint(client: httpx.Client, receiver: Receiver, **fields: Any) -> dict[str, Any]:
    r = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["alert.raised"], **fields})
    assert r.status_code == 201, r.text
    endpoint: dict[str, Any] = r.json()
    receiver.secrets.append(endpoint["secret"])
    return endpoint


def serve(redis_url: str, **overrides: Any) -> LiveServer:
    values = {"webhook_retry_schedule_s": FAST_RETRIES, "webhook_poll_s": 0.05, "webhook_timeout_s": 5.0, **overrides}
    return LiveServer(make_settings(redis_url, **values), KeywordScorer())


def test_delivery_is_signed_per_spec_and_shaped_as_standard_webhooks(flushed_redis: str, receiver: Receiver) -> None:
    """An alert reaches the receiver with webhook-id/timestamp/signature headers that verify, and a
    {type, timestamp, data} body carrying the alert; the secret is never shown again after creation."""
    with serve(flushed_redis) as server, httpx.Client(base_url=server.http) as client:
        endpoint = create_endpoint(client, receiver, description="ticketing")
        assert endpoint["secret"].startswith("whsec_")
        start(client, "c1")
        [alert] = [a for a in angry(client, "c1") if a["rule"] == "anger"]
        wait_for(lambda: receiver.bodies("alert.raised"), what="the delivery")
        got = receiver.received[0]
        assert got["verified_by"] == [endpoint["secret"]]
        assert got["headers"]["content-type"] == "application/json"
        assert got["body"]["type"] == "alert.raised"
        assert got["body"]["data"] == alert
        assert datetime.fromisoformat(got["body"]["timestamp"]) == datetime.fromisoformat(alert["created_at"])
        listed = client.get("/v1/webhooks").json()
        assert [e["id"] for e in listed] == [endpoint["id"]] and "secret" not in listed[0]
        assert "whsec_" not in client.get(f"/v1/webhooks/{endpoint['id']}").text
        deliveries = wait_for(
            lambda: [d for d in client.get(f"/v1/webhooks/{endpoint['id']}/deliveries").json() if d["attempts"]],
            what="the delivery log",
        )
        assert deliveries[0]["id"] == got["headers"]["webhook-id"]
        assert deliveries[0]["status"] == "succeeded"
        attempt = deliveries[0]["attempts"][0]
        assert attempt["status_code"] == 200 and attempt["error"] is None and attempt["latency_ms"] >= 0


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


def test_event_types_and_filters_unit() -> None:
    """Every alert is alert.raised; an `escalate` alert is also conversation.escalated; filters combine."""
    alert = Alert(
        id="1-0",
        rule="escalate",
        severity="critical",
        conversation_id="c",
        message_id="m",
        agent_id="a",
        audience=["supervisor"],
        nudge="n",
        reason="r",
        created_at=datetime.now(UTC),
    )
    assert event_types(alert) == ["alert.raised", "conversation.escalated"]
    assert event_types(alert.model_copy(update={"rule": "anger"})) == ["alert.raised"]
    endpoint = WebhookEndpoint(id="ep", url="http://x", events=["conversation.escalated"], created_at=alert.created_at,
                               secret="whsec_AAAA", min_severity="warning")  # fmt: skip
    assert endpoint.wants("conversation.escalated", alert)
    assert not endpoint.wants("alert.raised", alert)
    assert not endpoint.wants("conversation.escalated", alert.model_copy(update={"severity": "info"}))
    assert not endpoint.model_copy(update={"rules": ["anger"]}).wants("conversation.escalated", alert)
    assert "whsec_" not in repr(endpoint)


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


def test_test_event_and_secret_rotation(flushed_redis: str, receiver: Receiver) -> None:
    """POST /test sends a signed webhook.test now and reports the attempt; after a rotation deliveries verify
    with the new secret and, during the grace period, with the old one too."""
    with serve(flushed_redis) as server, httpx.Client(base_url=server.http) as client:
        endpoint = create_endpoint(client, receiver)
        tested = client.post(f"/v1/webhooks/{endpoint['id']}/test").json()
        assert tested["event_type"] == "webhook.test" and tested["status"] == "succeeded"
        assert tested["attempts"][0]["status_code"] == 200
        assert receiver.bodies("webhook.test")[0]["data"]["endpoint_id"] == endpoint["id"]
        rotated = client.post(f"/v1/webhooks/{endpoint['id']}/rotate-secret").json()
        assert rotated["secret"] != endpoint["secret"] and rotated["secret"].startswith("whsec_")
        receiver.secrets.append(rotated["secret"])
        client.post(f"/v1/webhooks/{endpoint['id']}/test")
        assert receiver.received[-1]["verified_by"] == [endpoint["secret"], rotated["secret"]]
        receiver.status = 500
        failing = client.post(f"/v1/webhooks/{endpoint['id']}/test").json()
        assert failing["status"] == "failed" and failing["attempts"][0]["error"] == "HTTP 500"


def test_webhook_api_validates_and_manages_endpoints(flushed_redis: str, receiver: Receiver) -> None:
    """Bad URLs and unknown events are 422; PATCH changes fields; DELETE removes the endpoint (404 after)."""
    with serve(flushed_redis) as server, httpx.Client(base_url=server.http) as client:
        assert client.post("/v1/webhooks", json={"url": "not a url", "events": ["alert.raised"]}).status_code == 422
        assert client.post("/v1/webhooks", json={"url": receiver.url, "events": ["alert.exploded"]}).status_code == 422
        assert client.post("/v1/webhooks", json={"url": receiver.url, "events": []}).status_code == 422
        endpoint = create_endpoint(client, receiver)
        url = f"/v1/webhooks/{endpoint['id']}"
        patched = client.patch(url, json={"events": ["conversation.escalated"], "min_severity": "critical"}).json()
        assert patched["events"] == ["conversation.escalated"] and patched["min_severity"] == "critical"
        assert client.patch(url, json={"url": None}).status_code == 422
        assert client.delete(url).status_code == 204
        assert client.get(url).status_code == 404
        assert client.delete(url).status_code == 404


def test_default_retry_schedule_reaches_hours() -> None:
    """The documented default: 7 retries after the first attempt, the last about 28 hours after the event."""
    from monitor.settings import Settings

    schedule = Settings().webhook_retry_schedule_s
    assert schedule == [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    assert 27 * 3600 < sum(schedule) < 29 * 3600


async def test_each_failure_is_rescheduled_with_jittered_backoff_then_fails(flushed_redis: str) -> None:
    """After each failed attempt the next is due after the schedule's delay +-20 %; after the last it is
    `failed` and off the due set. The webhook-id and body never change."""
    from redis.asyncio import Redis

    from monitor.delivery.webhooks import WebhookDispatcher

    seen: list[tuple[str, bytes]] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        seen.append((request.headers["webhook-id"], request.content))
        return httpx.Response(500, text="down")

    redis_client = Redis.from_url(flushed_redis, decode_responses=True)
    settings = make_settings(flushed_redis, webhook_retry_schedule_s=[100.0, 1000.0])
    http = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    dispatcher = WebhookDispatcher(redis_client, settings, client=http)
    try:
        endpoint = await dispatcher.store.create("http://receiver.invalid/hook", ["alert.raised"])
        alert = Alert(id="5-0", rule="anger", severity="warning", conversation_id="c", message_id="m", agent_id="a",
                      audience=["agent"], nudge="n", reason="r", created_at=datetime.now(UTC))  # fmt: skip
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
