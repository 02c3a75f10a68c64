"""``POST /v1/alerts/{id}/feedback``: stored with who and when, latest wins with history kept, shown on
``GET /v1/alerts``, announced live, sent to webhooks as ``alert.feedback``, and role-checked."""

from __future__ import annotations

import asyncio
import json

import httpx
from redis.asyncio import Redis
from websockets.sync.client import connect

from monitor import redis_keys as keys
from monitor.alerts import AlertLog
from monitor.feedback import FeedbackStore
from tests.auth.conftest import Secured, seed
from tests.delivery.webhook_receiver import Receiver, angry, create_endpoint, serve, start, wait_for


def test_agents_judge_only_their_own_alerts_and_supervisors_any(secured: Secured) -> None:
    """Agent a1 marks its alert (by = its agent id); a2 and ingest keys are refused; a supervisor may judge it."""
    alert = seed(secured)
    url = f"/v1/alerts/{alert['id']}/feedback"
    with secured.client("a2") as other, secured.client("ingest") as ingest:
        assert other.post(url, json={"verdict": "helpful"}).status_code == 403
        assert ingest.post(url, json={"verdict": "helpful"}).status_code == 403
    with secured.client("a1") as agent:
        given = agent.post(url, json={"verdict": "false_alarm", "note": " just sarcasm "})
        assert given.status_code == 200, given.text
        body = given.json()
        who = (body["verdict"], body["by"], body["by_role"], body["note"])
        assert who == ("false_alarm", "a1", "agent", "just sarcasm")
        assert body["rule"] == "anger" and body["agent_id"] == "a1"
        assert agent.post(url, json={"verdict": "maybe"}).status_code == 422
        assert agent.post("/v1/alerts/1-0/feedback", json={"verdict": "helpful"}).status_code == 404
        assert agent.post("/v1/alerts/nope/feedback", json={"verdict": "helpful"}).status_code == 422
        assert agent.get("/v1/alerts").status_code == 403  # an agent key still reads nothing else
    with secured.client("supervisor") as supervisor:
        again = supervisor.post(url, json={"verdict": "helpful", "by": "Dana"})
        assert again.status_code == 200 and again.json()["by"] == "Dana" and again.json()["by_role"] == "supervisor"
        listed = {a["id"]: a for a in supervisor.get("/v1/alerts").json()}
    assert listed[alert["id"]]["feedback"]["verdict"] == "helpful"  # the latest verdict wins
    assert all(a["feedback"] is None for i, a in listed.items() if i != alert["id"])

    async def history() -> list[str]:
        redis = Redis.from_url(secured.server.settings.redis_url or "", decode_responses=True)
        try:
            return [f.verdict for f in await FeedbackStore(redis, max_entries=100).history(alert["id"])]
        finally:
            await redis.aclose()

    assert asyncio.run(history()) == ["false_alarm", "helpful"]  # every verdict is kept


def test_feedback_is_announced_live_to_supervisors_and_the_agent(secured: Secured) -> None:
    """The supervisor feed and the alert's agent's nudges socket both get the alert.feedback envelope."""
    alert = seed(secured)
    ws = secured.server.ws
    with (
        connect(f"{ws}/v1/alerts?token={secured.keys['supervisor']}") as feed,
        connect(f"{ws}/v1/agents/a1/nudges?since={alert['id']}&token={secured.keys['a1']}") as nudges,
    ):
        with secured.client("a1") as agent:
            given = agent.post(f"/v1/alerts/{alert['id']}/feedback", json={"verdict": "helpful"}).json()

        def next_feedback(socket: object) -> dict[str, object]:
            while True:
                envelope = json.loads(socket.recv(timeout=10))  # type: ignore[attr-defined]
                if envelope["type"] == "alert.feedback":
                    return dict(envelope)

        assert next_feedback(feed) == {"type": "alert.feedback", "feedback": given}
        assert next_feedback(nudges) == {"type": "alert.feedback", "feedback": given}


def test_feedback_reaches_webhooks_as_its_own_event(flushed_redis: str, receiver: Receiver) -> None:
    """An endpoint subscribed to alert.feedback gets one signed message per verdict, with the alert and the verdict."""
    with serve(flushed_redis) as server, httpx.Client(base_url=server.http) as client:
        create_endpoint(client, receiver, events=["alert.feedback"])
        start(client, "wh-1")
        alert = next(a for a in angry(client, "wh-1") if a["rule"] == "anger")
        for verdict in ("helpful", "false_alarm"):
            assert client.post(f"/v1/alerts/{alert['id']}/feedback", json={"verdict": verdict}).status_code == 200
        bodies = wait_for(lambda: len(receiver.bodies()) == 2 and receiver.bodies(), what="two feedback events")
    assert [b["type"] for b in bodies] == ["alert.feedback", "alert.feedback"]  # alert.raised is not subscribed
    assert [b["data"]["feedback"]["verdict"] for b in bodies] == ["helpful", "false_alarm"]
    assert bodies[0]["data"]["alert"]["id"] == alert["id"]
    assert all(r["verified_by"] for r in receiver.received)
    assert len(set(receiver.ids())) == 2


def test_feedback_keys_share_a_hash_slot() -> None:
    """The latest-verdict hash and the verdict log are written in one MULTI, so they share a hash tag."""
    assert keys.ALERT_FEEDBACK.split("}")[0] == keys.FEEDBACK_STREAM.split("}")[0] == "cw:{feedback"


def test_a_verdict_logged_while_no_dispatcher_ran_is_still_sent(flushed_redis: str, receiver: Receiver) -> None:
    """The feedback log is read through the consumer group like the alert stream: a verdict stored while the
    service was down (the API crashed after storing it, say) is delivered by the next service."""
    with serve(flushed_redis) as server, httpx.Client(base_url=server.http) as client:
        create_endpoint(client, receiver, events=["alert.feedback"])
        start(client, "wh-2")
        alert = next(a for a in angry(client, "wh-2") if a["rule"] == "anger")

    async def log_a_verdict() -> None:
        redis = Redis.from_url(flushed_redis, decode_responses=True)
        try:
            stored = await AlertLog(redis).get_many([alert["id"]])
            await FeedbackStore(redis, max_entries=100).give(stored[0], "false_alarm", by="a1", by_role="agent")
        finally:
            await redis.aclose()

    asyncio.run(log_a_verdict())
    with serve(flushed_redis):
        [body] = wait_for(lambda: receiver.bodies("alert.feedback"), what="the verdict")
    assert body["data"]["feedback"]["verdict"] == "false_alarm" and body["data"]["alert"]["id"] == alert["id"]
