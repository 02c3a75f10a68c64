"""Issue 21, item 2: after DELETE /v1/conversations/{id} (admin) or `calmwatch erase --customer`, nothing of the
conversation's text is left in Redis (SCAN), its alerts still count, and the audit stream says who did it."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from monitor import redis_keys as keys
from monitor.cli import main
from monitor.privacy.erasure import Eraser, erased_alerts
from monitor.redis_server import EmbeddedRedis
from tests.auth.conftest import make_key
from tests.conftest import LiveServer, make_settings
from tests.delivery.webhook_receiver import FAST_RETRIES, Receiver, create_endpoint, wait_for
from tests.fakes import KeywordScorer
from tests.privacy.redis_text import stored_text

# Words found nowhere else in the tests' conversations, so finding one in Redis means the text survived.
ERASED_TURNS = [
    ("customer", "Quixotic zebras: this is ridiculous and unacceptable, I am furious"),
    ("agent", "Calm down, the marmalade protocol says there is nothing i can do"),
    ("customer", "Useless! Still waiting for the periwinkle refund, I hate this"),
]
KEPT_TURN = "Thanks, the lighthouse parcel arrived, all good"


def chat(client: httpx.Client, cid: str, customer: str, name: str, turns: list[tuple[str, str]]) -> None:
    r = client.post("/v1/conversations", json={"conversation_id": cid, "customer": {"id": customer, "name": name},
                                               "agent": {"id": "a1", "name": "Sam"}})  # fmt: skip
    assert r.status_code == 201, r.text
    for n, (role, text) in enumerate(turns):
        r = client.post("/v1/messages", json={"conversation_id": cid, "message_id": f"m{n}", "role": role,
                                              "text": text})  # fmt: skip
        assert r.status_code == 200, r.text


def alerts_of(client: httpx.Client, cid: str) -> list[dict[str, Any]]:
    return [a for a in client.get("/v1/alerts", params={"limit": 1000}).json() if a["conversation_id"] == cid]


@pytest.fixture
def admin_and_supervisor(flushed_redis: str) -> tuple[str, str]:
    return make_key(flushed_redis, "admin"), make_key(flushed_redis, "supervisor")


def test_delete_conversation_leaves_none_of_its_text_in_redis(
    flushed_redis: str, receiver: Receiver, admin_and_supervisor: tuple[str, str]
) -> None:
    """DELETE (admin only) removes turns, replies, state, alert texts and webhook deliveries; alert counts stay
    (as skeletons), another conversation is untouched, and the audit stream names the admin key."""
    admin, supervisor = admin_and_supervisor
    settings = make_settings(flushed_redis, webhook_retry_schedule_s=FAST_RETRIES, webhook_poll_s=0.05)
    with (
        LiveServer(settings, KeywordScorer()) as server,
        httpx.Client(base_url=server.http, headers={"authorization": f"Bearer {admin}"}) as client,
    ):
        create_endpoint(client, receiver, events=["alert.raised", "alert.feedback"])
        chat(client, "gone", "u1", "Philomena", ERASED_TURNS)
        chat(client, "kept", "u2", "Maria", [("customer", KEPT_TURN)])
        raised = alerts_of(client, "gone")
        assert raised, "the erased conversation raised alerts"
        wait_for(lambda: len(receiver.bodies("alert.raised")) >= len(raised), what="the alerts' webhooks")
        verdict = {"verdict": "false_alarm", "note": "tangerine mix-up, she was joking"}
        assert client.post(f"/v1/alerts/{raised[0]['id']}/feedback", json=verdict).status_code == 200
        wait_for(lambda: len(receiver.bodies("alert.feedback")) >= 1, what="the feedback's webhook")
        assert "marmalade" in stored_text(flushed_redis) and "tangerine" in stored_text(flushed_redis)

        refused = httpx.delete(
            f"{server.http}/v1/conversations/gone", headers={"authorization": f"Bearer {supervisor}"}
        )
        assert refused.status_code == 403
        erased = client.delete("/v1/conversations/gone")
        assert erased.status_code == 200, erased.text
        assert erased.json()["turns"] == 3 and erased.json()["alerts"] == len(raised)
        assert erased.json()["webhook_deliveries"] >= len(raised)

        assert client.get("/v1/conversations/gone").status_code == 404
        assert alerts_of(client, "gone") == [] and client.get("/v1/conversations/kept").status_code == 200
        assert client.delete("/v1/conversations/gone").status_code == 404  # nothing left; still audited
        audit = client.get("/v1/audit").json()
        assert [(e["action"], e["target"]) for e in audit] == [("erase.conversation", "gone")] * 2
        admin_id = client.get("/v1/auth/whoami").json()["key_id"]
        assert audit[1]["by"] == admin_id and audit[1]["conversations"][0]["alerts"] == len(raised)
        assert client.get("/v1/audit", headers={"authorization": f"Bearer {supervisor}"}).status_code == 403

    stored = stored_text(flushed_redis)
    for word in ("Quixotic", "marmalade", "periwinkle", "Philomena", "tangerine", "{gone}"):
        assert word not in stored, f"{word!r} is still in Redis after the erasure"
    assert "lighthouse" in stored and "Maria" in stored

    async def skeletons() -> list[Any]:
        redis = Redis.from_url(flushed_redis, decode_responses=True)
        try:
            return await erased_alerts(redis)
        finally:
            await redis.aclose()

    left = asyncio.run(skeletons())
    assert sorted((a.rule, a.severity) for a in left) == sorted((a["rule"], a["severity"]) for a in raised)


def test_erase_customer_command_erases_every_conversation_of_the_customer(
    flushed_redis: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`calmwatch erase --customer u1` erases both of u1's conversations, not u2's, and audits it as the CLI user."""
    with LiveServer(make_settings(flushed_redis), KeywordScorer()) as server, httpx.Client(base_url=server.http) as c:
        chat(c, "first", "u1", "Philomena", ERASED_TURNS[:1])
        chat(c, "second", "u1", "Philomena", ERASED_TURNS[1:])
        chat(c, "other", "u2", "Maria", [("customer", KEPT_TURN)])
    capsys.readouterr()  # the service's log lines
    assert main(["erase", "--customer", "u1", "--by", "dpo@example.com", "--redis-url", flushed_redis]) == 0
    out = capsys.readouterr().out
    assert [line.split("\t")[0] for line in out.splitlines()] == ["first", "second"]
    stored = stored_text(flushed_redis)
    assert not any(word in stored for word in ("Quixotic", "marmalade", "periwinkle", "Philomena"))
    assert "lighthouse" in stored
    assert main(["erase", "--customer", "nobody", "--redis-url", flushed_redis]) == 0
    assert main(["erase", "--conversation", "first", "--redis-url", flushed_redis]) == 1  # already erased

    async def audit() -> list[Any]:
        redis = Redis.from_url(flushed_redis, decode_responses=True)
        try:
            return list(await redis.xrange(keys.AUDIT_STREAM) or [])
        finally:
            await redis.aclose()

    events = [fields["event"] for _, fields in asyncio.run(audit())]
    assert len(events) == 3 and '"by":"dpo@example.com"' in events[0] and '"target":"u1"' in events[0]


async def test_erasure_reaches_the_append_only_file() -> None:
    """With appendonly on (the embedded server's default), the deleted text is gone from the files on disk too,
    once the rewrite that the erasure asks for has finished."""
    data_dir = Path(tempfile.mkdtemp(prefix="cw-aof-", dir="/tmp"))  # a short path for the unix socket
    server = EmbeddedRedis(data_dir, appendonly=True)
    server.start()
    redis = Redis.from_url(server.url, decode_responses=True)
    try:
        await redis.rpush(keys.turns("c9"), '{"text": "Quixotic zebras"}')
        await redis.hset(keys.conversation("c9"), "meta", "{}")
        await redis.set("cw:unrelated", "lighthouse")

        def on_disk() -> bytes:
            return b"".join(p.read_bytes() for p in data_dir.rglob("*") if p.is_file() and "aof" in p.name)

        assert b"Quixotic" in on_disk()
        assert (await Eraser(redis).erase_conversation("c9", by="test")).keys == 2
        for _ in range(200):
            info = await redis.info("persistence")
            if (
                not info["aof_rewrite_in_progress"]
                and not info["aof_rewrite_scheduled"]
                and b"Quixotic" not in on_disk()
            ):
                break
            await asyncio.sleep(0.05)
        assert b"Quixotic" not in on_disk() and b"lighthouse" in on_disk()
    finally:
        await redis.aclose()
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
