"""The connector queue and worker against a real Redis and pipeline: dedupe, order, reassignment, dead letters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from monitor import redis_keys
from monitor.connectors import ConnectorEvent, ConnectorQueue, ConnectorWorker, Delivery
from monitor.connectors.queue import decode_events, encode_events
from monitor.ingest import ConversationEnd
from monitor.pipeline import Pipeline
from monitor.rules import RuleReloader
from monitor.runtime import build_pipeline, redis_client
from monitor.schemas import AgentReassignment, ChatMessage, ConversationStart, Party
from tests.conftest import make_settings
from tests.paths import REPO_ROOT
from tests.test_pipeline import DirectScorer

START = ConversationStart(
    conversation_id="chatwoot:2:41", customer=Party(id="c", name="Dana"), agent=Party(id="a1", name="Ravi")
)
ANGRY = "This is ridiculous and unacceptable, I am furious"


def turn(number: int, text: str = ANGRY) -> ChatMessage:
    return ChatMessage(conversation_id="chatwoot:2:41", message_id=f"m{number}", role="customer", text=text)


@pytest.fixture
async def parts(flushed_redis: str) -> AsyncIterator[tuple[ConnectorQueue, ConnectorWorker, Pipeline]]:
    """A queue and a worker on one Redis, feeding a pipeline with the shipped rules and the keyword scorer."""
    redis = redis_client(flushed_redis)
    rules = RuleReloader([REPO_ROOT / "rules"])
    pipeline = build_pipeline(
        make_settings(flushed_redis), redis=redis, scorer=DirectScorer(), rules=lambda: rules.engine
    )
    worker = ConnectorWorker(redis, pipeline)
    await worker.start()
    try:
        yield ConnectorQueue(redis, dedupe_ttl_s=60, maxlen=1000), worker, pipeline
    finally:
        await redis.aclose()


async def drain(worker: ConnectorWorker, redis_entries: int) -> None:
    """Run the worker's read-and-apply once over what is queued (the service runs it as a loop)."""
    assert not await worker.apply_queued()
    assert worker.processed == redis_entries


async def queue_length(redis_url: str) -> int:
    redis = redis_client(redis_url)
    try:
        return int(await redis.xlen(redis_keys.CONNECTOR_EVENTS))
    finally:
        await redis.aclose()


def test_events_survive_the_stream_encoding() -> None:
    """Every event type comes back equal from the JSON written to the stream."""
    handover = AgentReassignment(conversation_id="chatwoot:2:41", agent=Party(id="a2"))
    events: list[ConnectorEvent] = [START, turn(1), handover, ConversationEnd(conversation_id="chatwoot:2:41")]
    assert decode_events(encode_events(events)) == events


async def test_redelivery_is_dropped_and_turns_are_applied_in_order(
    parts: tuple[ConnectorQueue, ConnectorWorker, Pipeline], flushed_redis: str
) -> None:
    """A key is queued once; a start, turns and a reassignment land in order; later alerts name the new agent."""
    queue, worker, pipeline = parts
    first = await queue.accept("chatwoot", [Delivery("msg:1", [START, turn(1, "hello there")])])
    again = await queue.accept("chatwoot", [Delivery("msg:1", [START, turn(1, "hello there")])])
    assert (first.queued, again.queued, again.duplicates) == (1, 0, 1)
    handover = AgentReassignment(conversation_id="chatwoot:2:41", agent=Party(id="a2", name="Mei"))
    await queue.accept("chatwoot", [Delivery("upd:1", [START, handover]), Delivery("msg:2", [START, turn(2)])])
    await drain(worker, 3)
    turns = await pipeline.store.turns("chatwoot:2:41")
    assert [t.message_id for t in turns] == ["m1", "m2"]
    meta = await pipeline.store.meta("chatwoot:2:41")
    assert meta is not None and meta.agent.id == "a2"
    reply = await pipeline.handle_message(turn(2))  # the stored answer of the turn the worker scored
    assert reply.alerts and {a.agent_id for a in reply.alerts} == {"a2"}
    # The queue held the unredacted text: a processed entry is deleted, not just acknowledged.
    assert await queue_length(flushed_redis) == 0


async def test_a_turn_the_pipeline_refuses_goes_to_the_dead_letter_stream(
    parts: tuple[ConnectorQueue, ConnectorWorker, Pipeline], flushed_redis: str
) -> None:
    """A message for a conversation never started is kept with the reason, acknowledged, and not retried."""
    queue, worker, _ = parts
    await queue.accept("zendesk", [Delivery("orphan", [turn(1)])])
    await drain(worker, 1)
    redis = redis_client(flushed_redis)
    try:
        entries: Any = await redis.xrange(redis_keys.CONNECTOR_DEAD)
        (entry,) = entries
        assert entry[1]["platform"] == "zendesk" and "never started" in entry[1]["error"]
        pending = await redis.xpending(redis_keys.CONNECTOR_EVENTS, redis_keys.CONNECTOR_GROUP)
        assert pending["pending"] == 0
    finally:
        await redis.aclose()
