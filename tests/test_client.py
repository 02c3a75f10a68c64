"""monitor.client against a real service: the sync and async clients, following alerts with resume, errors,
and verify_webhook on a real delivery."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from monitor.client import ApiError, AsyncCalmwatchClient, CalmwatchClient, WebhookVerificationError, verify_webhook
from tests.auth.conftest import make_key
from tests.conftest import LiveServer, make_settings
from tests.delivery.webhook_receiver import Receiver, wait_for
from tests.fakes import KeywordScorer

ANGRY = "This is ridiculous and unacceptable, I am furious"


@pytest.fixture
def keyed(flushed_redis: str) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    keys = {role: make_key(flushed_redis, role) for role in ("admin", "ingest", "supervisor")}  # type: ignore[arg-type]
    settings = make_settings(flushed_redis, webhook_poll_s=0.05)
    with LiveServer(settings, KeywordScorer()) as server:
        yield server, keys


def test_send_and_read_with_the_sync_client(keyed: tuple[LiveServer, dict[str, str]]) -> None:
    """An ingest client starts a chat and sends turns; a supervisor client reads the alert back and follows the
    feed from the start, getting the same alert as a typed Alert."""
    server, keys = keyed
    with CalmwatchClient(server.http, key=keys["ingest"]) as ingest:
        meta = ingest.start_conversation("c1", customer={"id": "u1", "name": "Maria"}, agent="a1", channel="web")
        assert meta.customer.name == "Maria" and meta.agent.id == "a1"
        assert ingest.send_message("c1", "m1", "Hello, where is my parcel?").alerts == []
        reply = ingest.send_message("c1", "m2", ANGRY)
        assert reply.scores.anger is not None and reply.scores.anger > 0.5
        assert "anger" in [a.rule for a in reply.alerts]
        assert ingest.send_message("c1", "m2", ANGRY) == reply  # idempotent re-send
        with pytest.raises(ApiError) as refused:
            ingest.alerts()
        assert refused.value.status == 403 and refused.value.code == "forbidden"
    with CalmwatchClient(server.http, key=keys["supervisor"]) as supervisor:
        alerts = supervisor.alerts(since="0")
        assert [a.id for a in alerts] == [a.id for a in reply.alerts]
        assert supervisor.conversation("c1").meta.conversation_id == "c1"
        followed = supervisor.follow_alerts(since="0")
        assert next(followed).id == alerts[0].id
        followed.close()
        token = supervisor.token()
    with CalmwatchClient(server.http, key=token) as browser:
        assert [a.id for a in browser.alerts()] == [a.id for a in alerts]


def test_follow_alerts_yields_live_alerts_and_stops_on_a_refused_key(keyed: tuple[LiveServer, dict[str, str]]) -> None:
    """follow_alerts yields alerts raised after it connected; a wrong key raises ApiError instead of retrying."""
    server, keys = keyed
    got: list[str] = []
    ready = threading.Event()

    def follow() -> None:
        with CalmwatchClient(server.http, key=keys["supervisor"]) as supervisor:
            ready.set()
            for alert in supervisor.follow_alerts():
                got.append(alert.conversation_id)
                return

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    ready.wait(10)
    with CalmwatchClient(server.http, key=keys["ingest"]) as ingest:
        ingest.start_conversation("c2", customer="u2", agent="a2")
        # the follower may connect a moment after `ready`; keep raising alerts until it has seen one
        n = 0

        def raised() -> bool:
            nonlocal n
            if not got:
                n += 1
                ingest.start_conversation(f"live{n}", customer="u", agent="a2")
                ingest.send_message(f"live{n}", "m1", ANGRY)
            return bool(got)

        wait_for(raised, what="a live alert")
    thread.join(10)
    assert got and got[0].startswith("live")
    with CalmwatchClient(server.http, key="cwk_wrong") as wrong, pytest.raises(ApiError) as refused:
        next(wrong.follow_alerts())
    assert refused.value.status == 403


async def test_async_client_round_trip(keyed: tuple[LiveServer, dict[str, str]]) -> None:
    """The async client sends, reads and follows like the sync one."""
    server, keys = keyed
    async with AsyncCalmwatchClient(server.http, key=keys["admin"]) as cw:
        await cw.start_conversation("c1", customer={"id": "u1", "name": "Maria"}, agent="a1")
        reply = await cw.send_message("c1", "m1", ANGRY)
        assert "anger" in [a.rule for a in reply.alerts]
        assert [a.id for a in await cw.alerts(since="0")] == [a.id for a in reply.alerts]
        async for alert in cw.follow_alerts(since="0", agent_id="a1"):
            assert alert.agent_id == "a1" and "agent" in alert.audience
            break
        await cw.end_conversation("c1")
    async with AsyncCalmwatchClient(server.http, key=keys["ingest"]) as ingest:
        with pytest.raises(ApiError) as refused:
            await ingest.alerts()
        assert refused.value.status == 403


async def test_healthy_says_whether_a_service_answers(live_server: LiveServer) -> None:
    """healthy() is True for a running service and False (not an exception) where nothing listens."""
    with CalmwatchClient(live_server.http) as cw:
        assert cw.healthy()
    async with AsyncCalmwatchClient(live_server.http) as acw:
        assert await acw.healthy()
    with CalmwatchClient("http://127.0.0.1:9", timeout=1) as nobody:
        assert not nobody.healthy()


def test_webhook_helpers_and_verify_webhook(keyed: tuple[LiveServer, dict[str, str]]) -> None:
    """An admin client registers a receiver and sends a test; verify_webhook accepts the real delivery and
    refuses it with another secret or a changed body."""
    server, keys = keyed
    receiver = Receiver().start()
    try:
        with CalmwatchClient(server.http, key=keys["admin"]) as admin:
            endpoint = admin.create_webhook(receiver.url, ["alert.raised", "conversation.escalated"])
            receiver.secrets.append(endpoint.secret)
            assert [e.id for e in admin.webhooks()] == [endpoint.id]
            assert admin.test_webhook(endpoint.id).status == "succeeded"
            [delivery] = admin.webhook_deliveries(endpoint.id)
            assert delivery.event_type == "webhook.test"
        got = receiver.received[0]
        body = got["raw"]
        assert verify_webhook(endpoint.secret, body, got["headers"])["type"] == "webhook.test"
        other = "whsec_" + "A" * 43 + "="
        with pytest.raises(WebhookVerificationError):
            verify_webhook(other, body, got["headers"])
        with pytest.raises(WebhookVerificationError):
            verify_webhook(endpoint.secret, body.replace(b"test", b"tost"), got["headers"])
    finally:
        receiver.stop()
