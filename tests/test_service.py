"""End-to-end tests of the v1 API over real HTTP and real websockets, against a real Redis server."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import LiveServer, make_settings
from tests.fakes import KeywordScorer

ANGRY = "This is ridiculous and unacceptable, I am furious"


def start(client: httpx.Client, cid: str = "c1", agent: str = "a1", customer_name: str = "Maria Lopez") -> None:
    r = client.post(
        "/v1/conversations",
        json={
            "conversation_id": cid,
            "customer": {"id": "u-" + cid, "name": customer_name},
            "agent": {"id": agent, "name": "Sam"},
            "channel": "web",
        },
    )
    assert r.status_code in (200, 201), r.text


def post(client: httpx.Client, cid: str, mid: str, text: str, role: str = "customer") -> dict[str, Any]:
    r = client.post("/v1/messages", json={"conversation_id": cid, "message_id": mid, "role": role, "text": text})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_rest_flow_scores_and_raises_anger_alert(live_server: LiveServer) -> None:
    """An angry customer turn posted over REST gets scores and an `anger` alert with a reason."""
    with httpx.Client(base_url=live_server.http) as client:
        start(client)
        calm = post(client, "c1", "m1", "Hi, my order has not arrived yet")
        assert calm["alerts"] == []
        assert set(calm["scores"]) == {"anger", "frustration", "sentiment", "scored", "language"}
        angry = post(client, "c1", "m2", ANGRY)
        assert angry["scores"]["anger"] > 0.5
        rules = [a["rule"] for a in angry["alerts"]]
        assert "anger" in rules
        alert = next(a for a in angry["alerts"] if a["rule"] == "anger")
        assert alert["agent_id"] == "a1" and alert["conversation_id"] == "c1" and alert["message_id"] == "m2"
        assert "agent" in alert["audience"] and alert["nudge"] and "0." in alert["reason"]
        agent_turn = post(client, "c1", "m3", "I understand, let me fix this now", role="agent")
        assert "anger" in agent_turn["scores"]


def test_resending_a_message_is_idempotent(live_server: LiveServer) -> None:
    """The same message_id twice gives the same answer and no duplicate alert or turn."""
    with httpx.Client(base_url=live_server.http) as client:
        start(client)
        first = post(client, "c1", "m1", ANGRY)
        again = post(client, "c1", "m1", ANGRY)
        assert first == again
        assert len(client.get("/v1/alerts").json()) == len(first["alerts"])
        assert len(client.get("/v1/conversations/c1").json()["turns"]) == 1


def test_conversation_detail_and_risk_board(live_server: LiveServer) -> None:
    """GET a conversation returns turns with scores and its alerts; the board ranks the angrier chat first."""
    with httpx.Client(base_url=live_server.http) as client:
        start(client, "calm", agent="a1")
        start(client, "hot", agent="a2")
        post(client, "calm", "m1", "Thanks, that worked perfectly")
        hot = post(client, "hot", "m1", ANGRY)
        detail = client.get("/v1/conversations/hot").json()
        assert hot["risk"] == detail["risk"], "the reply carries the risk the board has"
        assert detail["meta"]["customer"]["name"] == "Maria Lopez"
        assert detail["turns"][0]["scores"]["anger"] > 0.5
        assert [a["rule"] for a in detail["alerts"]].count("anger") == 1
        board = client.get("/v1/conversations", params={"active": "true", "sort": "risk"}).json()
        assert [row["meta"]["conversation_id"] for row in board] == ["hot", "calm"]
        assert board[0]["risk"] > board[1]["risk"]
        assert len(board[0]["customer_scores"]) == 1
        assert client.post("/v1/conversations/hot/end").status_code == 200
        board = client.get("/v1/conversations").json()
        assert [row["meta"]["conversation_id"] for row in board] == ["calm"]


@pytest.mark.parametrize(
    ("body", "status", "code", "mentions"),
    [
        (b"{not json", 422, "invalid_json", ""),
        (b'{"conversation_id": "c1", "message_id": "m1", "role": "customer"}', 422, "invalid_event", "text"),
        (
            b'{"conversation_id": "c1", "message_id": "m1", "role": "customer", "text": "  "}',
            422,
            "invalid_event",
            "text",
        ),
        (b'{"conversation_id": "c1", "message_id": "m1", "role": "boss", "text": "hi"}', 422, "invalid_event", "role"),
        (
            b'{"conversation_id": "nope", "message_id": "m1", "role": "customer", "text": "hi"}',
            404,
            "unknown_conversation",
            "nope",
        ),
        (
            b'{"conversation_id": "c1", "message_id": "m1", "role": "customer", "text": "caf\xe9"}',
            422,
            "invalid_json",
            "",
        ),
        (
            json.dumps({"conversation_id": "c1", "message_id": "m1", "role": "customer", "text": "a" * 9000}).encode(),
            422,
            "invalid_event",
            "text",
        ),
        (
            json.dumps(
                {"conversation_id": "c1", "message_id": "m1", "role": "customer", "text": "a" * 1_000_000}
            ).encode(),
            413,
            "too_large",
            "",
        ),
    ],
    ids=[
        "malformed",
        "missing-text",
        "blank-text",
        "unknown-role",
        "unknown-conversation",
        "non-utf8",
        "text-too-long",
        "one-megabyte",
    ],
)
def test_bad_input_gets_a_clear_error(
    live_server: LiveServer, body: bytes, status: int, code: str, mentions: str
) -> None:
    """Each kind of bad message gets a 4xx naming the problem, and the service keeps serving."""
    with httpx.Client(base_url=live_server.http) as client:
        start(client)
        r = client.post("/v1/messages", content=body, headers={"content-type": "application/json"})
        assert r.status_code == status, r.text
        assert r.json()["code"] == code
        assert mentions in r.json()["detail"]
        assert post(client, "c1", "ok", "still fine?")["message_id"] == "ok"


def test_stream_answers_in_order_and_survives_bad_events(live_server: LiveServer) -> None:
    """Over /v1/stream each event gets its answer in order; a bad event is an error event, not a closed socket."""
    with connect(live_server.ws + "/v1/stream") as ws:
        ws.send(
            json.dumps(
                {
                    "type": "conversation.start",
                    "conversation_id": "s1",
                    "customer": {"id": "u1", "name": "Ana"},
                    "agent": {"id": "a9", "name": "Jo"},
                }
            )
        )
        assert json.loads(ws.recv(timeout=10))["type"] == "conversation.started"
        for i in range(5):
            text = ANGRY if i == 3 else f"message number {i}"
            ws.send(
                json.dumps(
                    {
                        "type": "message",
                        "conversation_id": "s1",
                        "message_id": f"m{i}",
                        "role": "customer",
                        "text": text,
                    }
                )
            )
        ws.send("{broken")
        ws.send(json.dumps({"type": "message", "conversation_id": "s1", "message_id": "bad", "role": "customer"}))
        ws.send(json.dumps({"type": "teleport"}))
        ws.send(b"\xff\xfe not utf-8")
        replies = [json.loads(ws.recv(timeout=10)) for _ in range(9)]
        assert [r.get("message_id") for r in replies[:5]] == [f"m{i}" for i in range(5)]
        assert all(r["type"] == "scored" for r in replies[:5])
        assert "anger" in [a["rule"] for a in replies[3]["alerts"]]
        assert [(r["type"], r["code"]) for r in replies[5:]] == [
            ("error", "invalid_json"),
            ("error", "invalid_event"),
            ("error", "unknown_type"),
            ("error", "invalid_encoding"),
        ]
        assert replies[6]["message_id"] == "bad" and "text" in replies[6]["detail"]
        ws.send(json.dumps({"type": "conversation.end", "conversation_id": "s1"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "conversation.ended"


def test_oversize_frame_closes_with_1009(live_server: LiveServer) -> None:
    """A frame over the 64 KiB default closes the stream with code 1009 (message too big)."""
    with connect(live_server.ws + "/v1/stream", max_size=None) as ws:
        ws.send("x" * (64 * 1024 + 1))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_alert_reaches_supervisor_feed_and_only_its_agent(live_server: LiveServer) -> None:
    """An alert arrives on /v1/alerts and on its agent's nudges socket, never on another agent's."""
    with (
        connect(live_server.ws + "/v1/alerts") as feed,
        connect(live_server.ws + "/v1/agents/a1/nudges") as mine,
        connect(live_server.ws + "/v1/agents/a2/nudges") as other,
        httpx.Client(base_url=live_server.http) as client,
    ):
        start(client, "c1", agent="a1")
        start(client, "c2", agent="a2")
        post(client, "c1", "m1", ANGRY)
        on_feed = json.loads(feed.recv(timeout=10))
        on_mine = json.loads(mine.recv(timeout=10))
        assert on_feed["type"] == "alert" and on_feed["alert"]["rule"] == "anger"
        assert on_mine["alert"]["id"] == on_feed["alert"]["id"]
        with pytest.raises(TimeoutError):
            other.recv(timeout=0.5)


def test_alert_feed_resumes_from_since(live_server: LiveServer) -> None:
    """Connecting with ?since=<id> first replays the alerts after that id, then continues live without repeats."""
    with httpx.Client(base_url=live_server.http) as client:
        for n in range(3):
            start(client, f"c{n}")
            post(client, f"c{n}", "m1", ANGRY)
        ids = [a["id"] for a in client.get("/v1/alerts").json()]
        assert len(ids) == 3
        assert [a["id"] for a in client.get("/v1/alerts", params={"since": ids[0]}).json()] == ids[1:]
        assert client.get("/v1/alerts", params={"since": "yesterday"}).status_code == 422
        with connect(f"{live_server.ws}/v1/alerts?since={ids[0]}") as feed:
            replayed = [json.loads(feed.recv(timeout=10))["alert"]["id"] for _ in range(2)]
            assert replayed == ids[1:]
            start(client, "c9")
            post(client, "c9", "m1", ANGRY)
            live = json.loads(feed.recv(timeout=10))
            assert live["alert"]["conversation_id"] == "c9"


def test_health_readiness_and_metrics(live_server: LiveServer) -> None:
    """/healthz and /readyz answer, and /metrics counts turns, alerts and the scoring latency."""
    with httpx.Client(base_url=live_server.http) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["redis"] == "ok"
        start(client)
        post(client, "c1", "m1", ANGRY)
        client.post("/v1/messages", content=b"{", headers={"content-type": "application/json"})
        text = client.get("/metrics").text
        assert 'calmwatch_turns_scored_total{role="customer"} 1.0' in text
        assert 'calmwatch_alerts_total{rule="anger",severity=' in text
        assert "calmwatch_scoring_latency_seconds_count 1.0" in text
        assert 'calmwatch_ingest_errors_total{code="invalid_json"} 1.0' in text
        assert 'calmwatch_queue_depth{queue="scoring"}' in text
        assert "/v1/messages" in client.get("/openapi.json").text


def test_metrics_count_open_feed_and_nudge_sockets(live_server: LiveServer) -> None:
    """calmwatch_websocket_clients follows the supervisor feed and nudge sockets as they open and close."""
    from tests.delivery.webhook_receiver import wait_for

    def clients(endpoint: str) -> str:
        line = f'calmwatch_websocket_clients{{endpoint="{endpoint}"}} '
        text = httpx.get(live_server.http + "/metrics").text
        return next((row[len(line) :] for row in text.splitlines() if row.startswith(line)), "")

    with connect(live_server.ws + "/v1/alerts"), connect(live_server.ws + "/v1/agents/a1/nudges"):
        wait_for(lambda: clients("alerts") == "1.0" and clients("nudges") == "1.0", what="both sockets counted")
    wait_for(lambda: clients("alerts") == "0.0" and clients("nudges") == "0.0", what="both sockets released")


def test_stream_events_enter_the_pipeline_in_the_order_read(live_server: LiveServer) -> None:
    """A start whose rate-limit check is slow still enters the pipeline before the messages read after it, and
    the messages stay in order: none is refused as unknown, none overtakes another."""
    import asyncio

    app = live_server.server.config.app
    assert isinstance(app, FastAPI)
    runtime = app.state.runtime
    take, calls = runtime.auth.take, [0]

    async def slow_first(principal: Any) -> None:
        calls[0] += 1
        if calls[0] == 1:
            await asyncio.sleep(0.3)  # the start's check comes back after the messages'
        await take(principal)

    runtime.auth.take = slow_first
    try:
        with connect(live_server.ws + "/v1/stream") as ws:
            people = {"customer": {"id": "u1", "name": "Ana"}, "agent": {"id": "a1", "name": "Jo"}}
            ws.send(json.dumps({"type": "conversation.start", "conversation_id": "o1", **people}))
            for i in range(4):
                ws.send(json.dumps({"type": "message", "conversation_id": "o1", "message_id": f"m{i}",
                                    "role": "customer", "text": f"message {i}"}))  # fmt: skip
            replies = [json.loads(ws.recv(timeout=10)) for _ in range(5)]
    finally:
        runtime.auth.take = take
    assert [r["type"] for r in replies] == ["conversation.started"] + ["scored"] * 4
    stored = httpx.get(f"{live_server.http}/v1/conversations/o1", timeout=10).json()["turns"]
    assert [t["message_id"] for t in stored] == ["m0", "m1", "m2", "m3"]


def test_a_full_scoring_queue_is_answered_with_the_message_id(flushed_redis: str) -> None:
    """With a scoring queue of one, a burst on the stream gets `overloaded` answers, each naming its message, so
    the connector knows which turns to resend."""
    settings = make_settings(flushed_redis, score_queue_max=1, batch_max_size=1)
    with LiveServer(settings, KeywordScorer()) as server, connect(server.ws + "/v1/stream") as ws:
        people = {"customer": {"id": "u1", "name": "Ana"}, "agent": {"id": "a1", "name": "Jo"}}
        for c in range(20):
            ws.send(json.dumps({"type": "conversation.start", "conversation_id": f"q{c}", **people}))
        for c in range(20):
            ws.send(json.dumps({"type": "message", "conversation_id": f"q{c}", "message_id": f"m{c}",
                                "role": "customer", "text": ANGRY}))  # fmt: skip
        answers = [json.loads(ws.recv(timeout=10)) for _ in range(40)][20:]
    refused = [a for a in answers if a.get("code") == "overloaded"]
    assert refused, "the burst overflows a queue of one"
    assert all(a.get("message_id") == f"m{i}" for i, a in enumerate(answers) if a in refused)
