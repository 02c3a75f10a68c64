"""The shared wiring: one way to get a Redis (URL or embedded) and the pipeline built from Settings."""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitor.runtime import build_pipeline, open_redis
from monitor.schemas import (
    AlertCandidate,
    ChatMessage,
    ConversationSnapshot,
    ConversationStart,
    Party,
    TurnScores,
)
from tests.conftest import make_settings


class FixedScorer:
    """The async scorer protocol with one fixed, calm answer."""

    async def score(self, text: str) -> TurnScores:
        return TurnScores(anger=0.1, frustration=0.1, sentiment=0.0)


class NoRules:
    """A rule engine with nothing to say: no candidates, risk 0."""

    def evaluate(self, snapshot: ConversationSnapshot) -> list[AlertCandidate]:
        return []

    def risk(self, snapshot: ConversationSnapshot) -> float:
        return 0.0


async def test_without_a_url_a_private_server_runs_for_the_block_and_is_removed() -> None:
    """open_redis(None) starts an embedded server in a temporary directory, answers text, and removes it after."""
    async with open_redis(None, attempts=3) as redis:
        await redis.set("cw:probe", "é")
        assert await redis.get("cw:probe") == "é"
        socket = Path(redis.connection_pool.connection_kwargs["path"])
        assert await asyncio.to_thread(socket.exists)
    assert not await asyncio.to_thread(socket.parent.exists)


async def test_with_a_url_it_uses_that_server(flushed_redis: str) -> None:
    """open_redis(url) connects to the given server and leaves it running."""
    async with open_redis(flushed_redis, attempts=3) as redis:
        await redis.set("cw:probe", "1")
    async with open_redis(flushed_redis, attempts=3) as again:
        assert await again.get("cw:probe") == "1"


async def test_build_pipeline_takes_window_and_ttl_from_settings(flushed_redis: str) -> None:
    """The pipeline's store uses the settings' turn window and TTL, as the service and replay both do."""
    settings = make_settings(flushed_redis, turn_window=3, conversation_ttl_s=321)
    async with open_redis(settings.redis_url, attempts=3) as redis:
        pipeline = build_pipeline(settings, redis=redis, scorer=FixedScorer(), rules=NoRules)
        await pipeline.start_conversation(
            ConversationStart(conversation_id="c1", customer=Party(id="u"), agent=Party(id="a"))
        )
        await pipeline.handle_message(ChatMessage(conversation_id="c1", message_id="m1", role="customer", text="hi"))
        assert pipeline.store.window == 3
        assert 0 < await redis.ttl("cw:conv:{c1}:turns") <= 321
