"""Conversation state in Redis: tickets and leases, the fenced commit, pending alerts, TTLs and the cached reply."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from monitor import redis_keys as keys
from monitor.alerts import AlertLog, Firing, draft_alerts
from monitor.errors import TurnLostError
from monitor.runtime import redis_client
from monitor.schemas import (
    AlertCandidate,
    ConversationMeta,
    ConversationStart,
    Party,
    ScoredReply,
    TurnRecord,
    TurnScores,
)
from monitor.state import Arrival, ConversationStore, PendingAlert, PendingTurn

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


async def commit(
    store: ConversationStore, meta: ConversationMeta, turn: TurnRecord, risk: float, *, alerts: bool
) -> ScoredReply:
    """One turn the way the pipeline does it: a ticket, the state, then the fenced commit."""
    arrival = await store.arrive(meta.conversation_id, turn.message_id)
    assert arrival.ticket is not None and arrival.state is not None, "nothing else holds the conversation"
    drafts = draft_alerts([ANGER], arrival.state.last_firings, meta, turn, NOW) if alerts else []
    return await store.commit_turn(meta, turn, risk, drafts, ticket=arrival.ticket)


async def test_commit_writes_everything_the_turn_changes(redis: Redis) -> None:
    """One turn stores the turn, the board risk, the alert (stream, ids, firing) and the reply with its ids."""
    store = ConversationStore(redis, ttl_s=600, window=5, alert_maxlen=100)
    meta = await started(store)
    turn = record("m1")
    reply = await commit(store, meta, turn, 0.75, alerts=True)
    assert reply.risk == 0.75 and [a.rule for a in reply.alerts] == ["anger"]
    assert await store.turns("c1") == [turn]
    assert await store.risk("c1") == 0.75
    assert await store.alert_ids("c1") == [reply.alerts[0].id]
    assert await AlertLog(redis).since("0") == reply.alerts
    assert (await store.arrive("c1", "m1")).reply == reply, "a re-sent message id gets the same answer"
    nxt = await store.arrive("c1", "m2")
    assert nxt.state is not None and nxt.ticket == 2
    assert nxt.state.last_firings == {"anger": Firing(at=NOW.timestamp(), severity="warning")}
    assert nxt.state.recent == [turn] and nxt.state.meta == meta


async def test_every_conversation_key_expires_even_when_created_by_the_commit(redis: Redis) -> None:
    """The alert-id list, the firings hash and the turn queue, first created by a turn, get the TTL like the others."""
    store = ConversationStore(redis, ttl_s=600, window=5, alert_maxlen=100)
    meta = await started(store)
    await commit(store, meta, record("m1"), 0.5, alerts=True)
    await store.arrive("c1", "m2")  # leaves a ticket in the queue
    for key in [*keys.conversation_keys("c1"), keys.reply("c1", "m1")]:
        assert 0 < await redis.ttl(key) <= 600, key


async def test_arrival_sees_the_window_and_an_unknown_conversation(redis: Redis) -> None:
    """The state holds the last `window` stored turns; a conversation never started gets no ticket."""
    store = ConversationStore(redis, ttl_s=600, window=2, alert_maxlen=100)
    meta = await started(store)
    for n in range(3):
        await commit(store, meta, record(f"m{n}", anger=0.1), 0.1, alerts=False)
    arrival = await store.arrive("c1", "m9")
    assert arrival.state is not None and arrival.state.reply is None
    assert [t.message_id for t in arrival.state.recent] == ["m1", "m2"]
    assert await store.arrive("ghost", "m1") == Arrival()


async def test_ended_conversation_is_not_put_back_on_the_board(redis: Redis) -> None:
    """A late turn of an ended conversation is stored, but the board does not list the conversation again."""
    store = ConversationStore(redis, ttl_s=600, window=5, alert_maxlen=100)
    meta = await started(store)
    await store.end("c1")
    await commit(store, meta, record("m1"), 0.9, alerts=False)
    assert await store.risk("c1") is None and await store.board() == []
    assert len(await store.turns("c1")) == 1


async def test_turns_wait_for_earlier_tickets_and_a_stale_commit_is_refused(redis: Redis) -> None:
    """A second ticket gets no state while the first is live; once the first lapses it is skipped, and the
    first's late commit is refused without writing anything."""
    store = ConversationStore(redis, ttl_s=600, window=5, alert_maxlen=100, turn_lease_s=0.3)
    meta = await started(store)
    first = await store.arrive("c1", "m1")
    second = await store.arrive("c1", "m2")
    assert (first.ticket, second.ticket) == (1, 2) and first.state is not None and second.state is None
    assert await store.take_turn("c1", "m2", 2) is None, "ticket 1 is live: ticket 2 waits"
    await asyncio.sleep(0.2)
    assert await store.take_turn("c1", "m2", 2) is None, "asking renews ticket 2's lease, not ticket 1's"
    await asyncio.sleep(0.2)
    state = await store.take_turn("c1", "m2", 2)
    assert state is not None, "ticket 1's lease ran out: it is skipped"
    with pytest.raises(TurnLostError):
        await store.commit_turn(meta, record("m1"), 0.9, [], ticket=1)
    with pytest.raises(TurnLostError):
        await store.take_turn("c1", "m1", 1)
    await store.commit_turn(meta, record("m2"), 0.2, [], ticket=2)
    assert [t.message_id for t in await store.turns("c1")] == ["m2"]


async def test_a_released_ticket_lets_the_next_turn_go_at_once(redis: Redis) -> None:
    """A turn that fails gives its place up: the next ticket holds the turn without waiting for the lease."""
    store = ConversationStore(redis, ttl_s=600, window=5, alert_maxlen=100, turn_lease_s=30)
    await started(store)
    await store.arrive("c1", "m1")
    await store.arrive("c1", "m2")
    await store.release_turn("c1", 1)
    assert await store.take_turn("c1", "m2", 2) is not None


async def test_alerts_left_pending_by_a_dead_process_are_published_once(redis: Redis) -> None:
    """A commit whose process died before its alerts reached the stream leaves them pending; completing the
    pending turn twice (the next turn and a resend) adds each alert to the stream once, with one reply."""
    store = ConversationStore(redis, ttl_s=600, window=5, alert_maxlen=100, turn_lease_s=30)
    meta = await started(store)
    turn = record("m1")
    arrival = await store.arrive("c1", "m1")
    assert arrival.ticket == 1
    drafts = draft_alerts([ANGER], {}, meta, turn, NOW)
    pending = PendingTurn(
        ticket=1,
        message_id="m1",
        reply=ScoredReply(message_id="m1", scores=turn.wire_scores(), alerts=[], risk=0.9),
        alerts=[PendingAlert(key=json.dumps(["c1", "m1", 0]), body=drafts[0].body)],
    )
    stored = pending.model_dump_json()
    # What the commit script writes before the process dies: the turn, the firing, the pending record.
    await redis.rpush(keys.turns("c1"), turn.model_dump_json())
    await redis.hset(keys.conversation("c1"), "pending", stored)
    with pytest.raises(TurnLostError):
        await store.commit_turn(meta, record("m2"), 0.1, [], ticket=1)  # a pending turn blocks commits
    first = await store.complete("c1", stored, pending)
    again = await store.complete("c1", stored, pending)
    assert [a.id for a in again.alerts] == [a.id for a in first.alerts]
    assert [a.id for a in await AlertLog(redis).since("0")] == [first.alerts[0].id]
    assert await store.alert_ids("c1") == [first.alerts[0].id]
    assert (await store.arrive("c1", "m1")).reply == first
    assert (await store.arrive("c1", "m2")).state is not None, "completing served ticket 1"


async def test_board_keeps_the_newest_turns_risk(redis: Redis) -> None:
    """A board write of an earlier turn arriving after a later one's (two processes) leaves the later risk."""
    store = ConversationStore(redis, ttl_s=600, window=5, alert_maxlen=100)
    meta = await started(store)
    await commit(store, meta, record("m1"), 0.3, alerts=False)
    await commit(store, meta, record("m2"), 0.6, alerts=False)
    await store._board(keys=[keys.ACTIVE_CONVERSATIONS, keys.BOARD_TURNS], args=["c1", 0.1, 1])
    assert await store.risk("c1") == 0.6


async def test_alert_once_keys_of_a_conversation_are_found_by_its_pattern(redis: Redis) -> None:
    """Erasure finds a conversation's alert-once keys by pattern (SCAN MATCH in a real Redis), and no other
    conversation's, for ids with glob characters, quotes and backslashes too."""
    odd = 'c*1"[\\'
    mine = keys.alert_once(keys.alert_key(odd, "m1", 0))
    others = [keys.alert_once(keys.alert_key(cid, "m1", 0)) for cid in ("c11", "c*1", 'c*1"[x')]
    for key in [mine, *others]:
        await redis.set(key, "1-0")
    assert [key async for key in redis.scan_iter(match=keys.alert_once_match(odd))] == [mine]
