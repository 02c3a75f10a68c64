"""Conversation state in Redis: the turn's one read and one commit, TTLs, hash tags and the cached reply."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from monitor import redis_keys as keys
from monitor.alerts import AlertLog, Firing, draft_alerts
from monitor.runtime import redis_client
from monitor.schemas import AlertCandidate, ConversationMeta, ConversationStart, Party, TurnRecord, TurnScores
from monitor.state import ConversationStore

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
async def redis(flushed_redis: str) -> AsyncIterator[Redis]:
    client = redis_client(flushed_redis)
    yield client
    await client.aclose()


async def started(store: ConversationStore, cid: str = "c1") -> ConversationMeta:
    meta, _ = await store.start(ConversationStart(conversation_id=cid, customer=Party(id="u"), agent=Party(id="a")))
    return meta


def record(mid: str, anger: float = 0.9) -> TurnRecord:
    scores = TurnScores(anger=anger, frustration=0.1, sentiment=-0.5, emotions={"anger": anger})
    return TurnRecord(message_id=mid, role="customer", text="furious", sent_at=NOW, scores=scores)


ANGER = AlertCandidate(rule="anger", severity="warning", audience=["agent"], nudge="n", reason="r", cooldown_s=60)


def test_per_conversation_keys_share_one_hash_tag() -> None:
    """Every key a turn commits for one conversation carries the same {hash tag}, so it lands in one cluster slot."""
    per_conversation = [*keys.conversation_keys("c-1"), keys.reply("c-1", "m1")]
    assert {key[key.index("{") : key.index("}") + 1] for key in per_conversation} == {"{c-1}"}


async def test_commit_writes_everything_the_turn_changes(redis: Redis) -> None:
    """One commit stores the turn, the board risk, the alert (stream, ids, firing) and the reply with its ids."""
    store = ConversationStore(redis, ttl_s=600, window=5, alert_maxlen=100)
    meta = await started(store)
    turn = record("m1")
    drafts = draft_alerts([ANGER], {}, meta, turn, NOW)
    reply = await store.commit_turn(meta, turn, 0.75, drafts)
    assert reply.risk == 0.75 and [a.rule for a in reply.alerts] == ["anger"]
    assert await store.turns("c1") == [turn]
    assert await store.risk("c1") == 0.75
    assert await store.alert_ids("c1") == [reply.alerts[0].id]
    assert await AlertLog(redis).since("0") == reply.alerts
    state = await store.read_turn("c1", "m1")
    assert state.reply == reply, "a re-sent message id gets the same answer"
    assert state.last_firings == {"anger": Firing(at=NOW.timestamp(), severity="warning")}
    assert state.recent == [turn] and state.meta == meta


async def test_every_conversation_key_expires_even_when_created_by_the_commit(redis: Redis) -> None:
    """The alert-id list and the firings hash, first created by a turn's alert, get the TTL like the others."""
    store = ConversationStore(redis, ttl_s=600, window=5, alert_maxlen=100)
    meta = await started(store)
    turn = record("m1")
    await store.commit_turn(meta, turn, 0.5, draft_alerts([ANGER], {}, meta, turn, NOW))
    for key in [*keys.conversation_keys("c1"), keys.reply("c1", "m1")]:
        assert 0 < await redis.ttl(key) <= 600, key


async def test_read_turn_sees_the_window_and_an_unknown_conversation(redis: Redis) -> None:
    """read_turn returns the last `window` stored turns, and no metadata for a conversation never started."""
    store = ConversationStore(redis, ttl_s=600, window=2, alert_maxlen=100)
    meta = await started(store)
    for n in range(3):
        await store.commit_turn(meta, record(f"m{n}", anger=0.1), 0.1, [])
    state = await store.read_turn("c1", "m9")
    assert [t.message_id for t in state.recent] == ["m1", "m2"] and state.reply is None
    assert (await store.read_turn("ghost", "m1")).meta is None


async def test_ended_conversation_is_not_put_back_on_the_board(redis: Redis) -> None:
    """A late turn of an ended conversation is stored, but the board does not list the conversation again."""
    store = ConversationStore(redis, ttl_s=600, window=5, alert_maxlen=100)
    meta = await started(store)
    await store.end("c1")
    await store.commit_turn(meta, record("m1"), 0.9, [])
    assert await store.risk("c1") is None and await store.board() == []
    assert len(await store.turns("c1")) == 1
