"""The console's server side: pages and assets, alert acknowledgements in Redis, and the `calmwatch demo` player."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from websockets.sync.client import connect

from monitor import redis_keys as keys
from monitor.acks import AckStore
from monitor.auth import KeyStore
from monitor.client import AsyncCalmwatchClient
from monitor.demo import (
    DemoOptions,
    DemoPlayer,
    _demo_scorer,
    demo_command,
    extra_sources,
    load_demo_conversations,
    load_other_conversations,
)
from monitor.runtime import redis_client
from monitor.schemas import ChatMessage
from monitor.scoring import VaderScorer
from monitor.settings import Settings
from tests.conftest import LiveServer, make_settings
from tests.fakes import KeywordScorer

ANGRY = "This is ridiculous and unacceptable, I am furious"
REPO = Path(__file__).resolve().parent.parent


def start(client: httpx.Client, cid: str, agent: str = "a1", name: str = "Maria Lopez") -> None:
    r = client.post(
        "/v1/conversations",
        json={"conversation_id": cid, "customer": {"id": f"u-{cid}", "name": name}, "agent": {"id": agent}},
    )
    assert r.status_code in (200, 201), r.text


def angry_alert(client: httpx.Client, cid: str, mid: str = "m1") -> dict[str, Any]:
    r = client.post("/v1/messages", json={"conversation_id": cid, "message_id": mid, "role": "customer", "text": ANGRY})
    assert r.status_code == 200, r.text
    alerts: list[dict[str, Any]] = r.json()["alerts"]
    assert alerts, "the default rules raise an alert for an angry turn"
    return alerts[0]


def test_pages_and_assets_are_served(live_server: LiveServer) -> None:
    """/, /console and /sidebar/{agent} are HTML pages; assets come with their types; nothing else is reachable."""
    with httpx.Client(base_url=live_server.http) as client:
        for path in ("/", "/console"):
            page = client.get(path)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert "Supervisor console" in page.text and "/static/console.js" in page.text
        sidebar = client.get("/sidebar/agent-7")
        assert sidebar.status_code == 200 and "/static/sidebar.js" in sidebar.text
        assert client.get("/sidebar/bad%20id").status_code == 404
        assert client.get("/static/console.js").headers["content-type"].startswith("text/javascript")
        assert client.get("/static/base.css").headers["content-type"].startswith("text/css")
        assert client.get("/static/embed.js").status_code == 200
        for bad in ("/static/../console.html", "/static/..%2F..%2Fapi%2Fconsole.py", "/static/nope.js", "/static/"):
            assert client.get(bad).status_code == 404, bad


def test_acknowledgement_is_stored_published_and_first_wins(live_server: LiveServer) -> None:
    """POST .../ack stores the ack in Redis, announces it on the live feed, and a second ack keeps the first."""
    with httpx.Client(base_url=live_server.http) as client:
        start(client, "c1")
        alert = angry_alert(client, "c1")
        assert alert["customer_name"] == "Maria Lopez"
        with connect(live_server.ws + "/v1/alerts") as feed:
            first = client.post(f"/v1/alerts/{alert['id']}/ack", json={"by": "Dana"})
            assert first.status_code == 200 and first.json()["by"] == "Dana" and first.json()["key_id"] == "open"
            envelope = json.loads(feed.recv(timeout=10))
        assert envelope == {"type": "alert.acknowledged", "ack": first.json()}
        second = client.post(f"/v1/alerts/{alert['id']}/ack", json={"by": "Eve"})
        assert second.json() == first.json()
        assert client.get("/v1/alerts/acks", params={"ids": f"{alert['id']},1-0"}).json() == [first.json()]
        assert client.post(f"/v1/alerts/{alert['id']}/ack").status_code == 200  # the body is optional


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("POST", "/v1/alerts/1-0/ack", 404, "unknown_alert"),
        ("POST", "/v1/alerts/yesterday/ack", 422, "invalid_alert_id"),
        ("GET", "/v1/alerts/acks?ids=1-0,soon", 422, "invalid_alert_ids"),
        ("GET", "/v1/alerts/acks?ids=" + ",".join(f"{n}-0" for n in range(501)), 422, "invalid_alert_ids"),
    ],
    ids=["unknown-alert", "bad-id", "bad-ids", "too-many-ids"],
)
def test_bad_acks_get_clear_errors(live_server: LiveServer, method: str, path: str, status: int, code: str) -> None:
    """Acks of unknown or malformed alert ids are refused with a code saying why."""
    with httpx.Client(base_url=live_server.http) as client:
        response = client.request(method, path)
        assert response.status_code == status and response.json()["code"] == code


async def test_acks_are_pruned_with_the_alert_stream(flushed_redis: str) -> None:
    """Past max_entries, acks of alerts the stream has trimmed are deleted; acks of kept alerts stay."""
    redis = redis_client(flushed_redis)
    try:
        ids = [str(await redis.xadd(keys.ALERTS_STREAM, {"alert": "{}"})) for _ in range(4)]
        store = AckStore(redis, max_entries=2)
        for alert_id in ids[:3]:
            await store.acknowledge(alert_id, "Dana")
        await redis.xtrim(keys.ALERTS_STREAM, maxlen=2, approximate=False)  # ids[0] and ids[1] leave the stream
        await store.acknowledge(ids[3], "Dana")
        assert sorted(await redis.hkeys(keys.ALERT_ACKS)) == sorted(ids[2:])
        assert [a.alert_id for a in await store.get_many(ids)] == ids[2:]
    finally:
        await redis.aclose()


def test_shipped_demo_conversations_are_valid_chats() -> None:
    """The demo ships several agents' chats, each with both roles and every turn a valid message."""
    conversations = load_demo_conversations()
    assert len(conversations) >= 6
    assert len({c.agent.id for c in conversations}) >= 3
    assert len({c.key for c in conversations}) == len(conversations)
    for conv in conversations:
        assert {t.role for t in conv.turns} == {"customer", "agent"} and conv.customer.name
        for n, turn in enumerate(conv.turns):
            ChatMessage(conversation_id=conv.key, message_id=f"m{n}", role=turn.role, text=turn.text)


def test_player_posts_every_turn_at_typing_pace(live_server: LiveServer) -> None:
    """The player starts each chat, posts its turns in order with a typing delay scaled by speed, and raises alerts."""
    conversations = load_demo_conversations()[:3]
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    async def run() -> list[Any]:
        async with AsyncCalmwatchClient(live_server.http) as client:
            player = DemoPlayer(client, run_id="t", speed=4.0, stagger_s=2.0, sleep=no_wait)
            return await player.play_all(conversations)

    results = asyncio.run(run())
    assert [r.conversation_id for r in results] == [f"{c.key}-t" for c in conversations]
    assert [r.turns for r in results] == [len(c.turns) for c in conversations]
    assert any(r.alerts for r in results)
    assert sorted(waits[:3]) == [0.0, 0.5, 1.0]  # start offsets: i * stagger / speed
    assert all(0.375 <= w <= 2.0 for w in waits[3:])  # per turn: 1.5..8 s of typing, at 4x
    with httpx.Client(base_url=live_server.http) as client:
        detail = client.get(f"/v1/conversations/{results[0].conversation_id}").json()
        assert [t["text"] for t in detail["turns"]] == [t.text for t in conversations[0].turns]


def test_demo_command_plays_into_a_running_service(live_server: LiveServer) -> None:
    """`calmwatch demo --url` plays every chat into a running service, ends each one after its last turn (so
    the board never fills with stale chats), and prints the console and sidebar URLs."""
    out = io.StringIO()
    assert demo_command(DemoOptions(url=live_server.http, speed=500.0, sources=[]), out=out) == 0
    with httpx.Client(base_url=live_server.http) as client:
        assert client.get("/v1/conversations").json() == []
        alerts = client.get("/v1/alerts").json()
        played = {a["conversation_id"] for a in alerts}
        assert len(played) > 1
        for cid in played:
            assert client.get(f"/v1/conversations/{cid}").json()["meta"]["ended_at"] is not None
    printed = out.getvalue()
    assert f"{live_server.http}/sidebar/sam" in printed and "Round done" in printed


def test_demo_command_refuses_a_url_where_nothing_answers() -> None:
    """A --url with no service behind it is a one-line error, not a traceback."""
    out = io.StringIO()
    assert demo_command(DemoOptions(url="http://127.0.0.1:9"), out=out) == 1
    assert "nothing answers" in out.getvalue()


def test_other_conversations_come_from_the_replay_formats(tmp_path: Path) -> None:
    """--from reads scenario files and the support-conversations JSON, keeping only chats with both roles."""
    scenarios = load_other_conversations(REPO / "tests" / "scenarios", limit=3)
    assert len(scenarios) == 3 and all({t.role for t in c.turns} == {"customer", "agent"} for c in scenarios)
    support = tmp_path / "conversations.json"
    dialog = {
        "dialogHeader": {"company": "AcmeHelp", "sessionID": "s1", "conversationDateTime": "2020-04-01T17:31:32Z"},
        "dialogContent": [
            {"client": "someone", "message": "@AcmeHelp my order is late again", "tweet_ID": "1"},
            {"agent": "AcmeHelp", "message": "Sorry! Please DM us the order number.", "tweet_ID": "2"},
            {"client": "someone", "message": "Done, sent it.", "tweet_ID": "3"},
        ],
    }
    only_customer = {"dialogHeader": {"sessionID": "s2"}, "dialogContent": [{"client": "x", "message": "hello"}]}
    support.write_text(json.dumps([dialog, only_customer]))
    [conv] = load_other_conversations(support, limit=5)
    assert conv.agent.name == "AcmeHelp" and conv.agent.id == "acmehelp"
    assert [t.role for t in conv.turns] == ["customer", "agent", "customer"]


def test_demo_falls_back_to_vader_without_a_model(tmp_path: Path) -> None:
    """A demo must start on a fresh checkout: with no model artifact it says so and scores with VADER."""
    out = io.StringIO()
    scorer = _demo_scorer(Settings(scorer="model", model_path=tmp_path / "missing"), out)
    assert isinstance(scorer, VaderScorer)
    assert "VADER" in out.getvalue() and "missing" in out.getvalue()


def test_a_checkout_adds_scenarios_and_support_conversations(tmp_path: Path) -> None:
    """Without --from, a checkout's tests/scenarios and ../shared's support conversations join the demo if present."""
    root = tmp_path / "main"
    assert extra_sources(root) == []
    (root / "tests" / "scenarios").mkdir(parents=True)
    support = tmp_path / "shared" / "data" / "support-conversations" / "conversations.json"
    support.parent.mkdir(parents=True)
    support.write_text("[]")
    assert extra_sources(root) == [root / "tests" / "scenarios", support]


def make_keys(redis_url: str) -> dict[str, tuple[str, str]]:
    """An ingest and a supervisor key, as role -> (key, key id)."""

    async def create() -> dict[str, tuple[str, str]]:
        redis = Redis.from_url(redis_url)
        try:
            store = KeyStore(redis)
            made = {role: await store.create(role) for role in ("ingest", "supervisor")}
            return {role: (key, record.id) for role, (key, record) in made.items()}
        finally:
            await redis.aclose()

    return asyncio.run(create())


def test_acks_need_a_supervisor_key_and_record_it(flushed_redis: str) -> None:
    """With keys, an ingest key may not acknowledge; a supervisor's ack records that key's id."""
    keys_made = make_keys(flushed_redis)
    with LiveServer(make_settings(flushed_redis), KeywordScorer()) as server:
        auth = {role: {"Authorization": f"Bearer {key}"} for role, (key, _) in keys_made.items()}
        with httpx.Client(base_url=server.http, headers=auth["ingest"]) as ingest:
            start(ingest, "c1")
            alert = angry_alert(ingest, "c1")
            assert ingest.post(f"/v1/alerts/{alert['id']}/ack").status_code == 403
        with httpx.Client(base_url=server.http, headers=auth["supervisor"]) as supervisor:
            ack = supervisor.post(f"/v1/alerts/{alert['id']}/ack", json={"by": "Dana"}).json()
            assert ack["key_id"] == keys_made["supervisor"][1] and ack["by"] == "Dana"
            assert supervisor.get("/v1/alerts/acks", params={"ids": alert["id"]}).json() == [ack]


def test_demo_with_keys_needs_an_ingest_token(flushed_redis: str) -> None:
    """Against a service that requires keys the demo says to pass --token, and plays with one."""
    keys_made = make_keys(flushed_redis)
    with LiveServer(make_settings(flushed_redis), KeywordScorer()) as server:
        out = io.StringIO()
        assert demo_command(DemoOptions(url=server.http, sources=[]), out=out) == 1
        assert "answered 401" in out.getvalue() and "--token" in out.getvalue()
        token = keys_made["ingest"][0]
        assert demo_command(DemoOptions(url=server.http, speed=500.0, sources=[], token=token), out=out) == 0
        assert token not in out.getvalue()
