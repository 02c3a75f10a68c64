"""The pipeline stage by stage against a real Redis, with a fixed rule, a keyword scorer and a hand-moved clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from monitor.alerts import AlertLog
from monitor.errors import UnknownConversationError
from monitor.pipeline import Pipeline
from monitor.schemas import (
    AlertCandidate,
    ChatMessage,
    ConversationSnapshot,
    ConversationStart,
    Party,
    Severity,
    TurnScores,
)
from monitor.state import ConversationStore
from tests.fakes import KeywordScorer


class DirectScorer:
    """The async scorer protocol over a synchronous scorer, without the batcher (tested on its own)."""

    def __init__(self) -> None:
        self.inner = KeywordScorer()

    async def score(self, text: str) -> TurnScores:
        return self.inner.score([text])[0]


class AngerOverHalf:
    """One rule: customer anger > 0.5 raises a warning with a 60 s cooldown; anger 1.0 a critical one."""

    def evaluate(self, snapshot: ConversationSnapshot) -> list[AlertCandidate]:
        turn = snapshot.latest
        if turn.role != "customer" or turn.scores.anger <= 0.5:
            return []
        severity: Severity = "critical" if turn.scores.anger >= 1.0 else "warning"
        return [AlertCandidate(rule="anger", severity=severity, audience=["agent"], nudge="stay calm",
                               reason=f"anger {turn.scores.anger:.2f}", cooldown_s=60)]  # fmt: skip

    def risk(self, snapshot: ConversationSnapshot) -> float:
        return max(t.scores.anger for t in snapshot.turns)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def pipeline_and_clock(flushed_redis: str) -> AsyncIterator[tuple[Pipeline, Clock]]:
    client = aioredis.Redis.from_url(flushed_redis)
    clock = Clock()
    rule = AngerOverHalf()
    pipeline = Pipeline(
        store=ConversationStore(client, ttl_s=3600, window=5),
        alerts=AlertLog(client, maxlen=1000),
        scorer=DirectScorer(),
        rules=lambda: rule,
        clock=clock,
    )
    await pipeline.start_conversation(
        ConversationStart(conversation_id="c1", customer=Party(id="u", name="Ana"), agent=Party(id="a", name="Jo"))
    )
    yield pipeline, clock
    await client.aclose()


def msg(mid: str, text: str, role: str = "customer") -> ChatMessage:
    return ChatMessage(conversation_id="c1", message_id=mid, role=role, text=text)  # type: ignore[arg-type]


async def test_cooldown_holds_until_time_passes_or_severity_rises(pipeline_and_clock: tuple[Pipeline, Clock]) -> None:
    """Inside the cooldown a repeat is silent, a rise to critical fires, and after the cooldown it fires again."""
    pipeline, clock = pipeline_and_clock
    assert isinstance(pipeline, Pipeline) and isinstance(clock, Clock)
    assert [a.rule for a in (await pipeline.handle_message(msg("m1", "this is ridiculous"))).alerts] == []
    first = await pipeline.handle_message(msg("m2", "ridiculous and unacceptable"))
    assert [(a.rule, a.severity) for a in first.alerts] == [("anger", "warning")]
    clock.advance(30)
    assert (await pipeline.handle_message(msg("m3", "useless and ridiculous"))).alerts == []
    rising = await pipeline.handle_message(msg("m4", "useless, ridiculous, unacceptable"))
    assert [(a.rule, a.severity) for a in rising.alerts] == [("anger", "critical")]
    clock.advance(61)
    assert len((await pipeline.handle_message(msg("m5", "ridiculous and unacceptable"))).alerts) == 1
    assert len(await pipeline.alerts.since("0")) == 3


async def test_rules_see_a_bounded_window_and_risk_is_recorded(pipeline_and_clock: tuple[Pipeline, Clock]) -> None:
    """The snapshot holds at most `window` recent turns, all turns stay stored, and the board gets the risk."""
    pipeline, _ = pipeline_and_clock
    assert isinstance(pipeline, Pipeline)
    for i in range(8):
        await pipeline.handle_message(msg(f"m{i}", "ridiculous and unacceptable" if i == 0 else f"fine {i}"))
    assert len(await pipeline.store.turns("c1")) == 8
    board = await pipeline.store.board()
    assert board[0].meta.conversation_id == "c1"
    assert board[0].risk < 0.5  # the angry turn has left the 5-turn window the rules see


async def test_message_for_unknown_conversation_is_refused(pipeline_and_clock: tuple[Pipeline, Clock]) -> None:
    """A message whose conversation was never started raises UnknownConversationError and stores nothing."""
    pipeline, _ = pipeline_and_clock
    assert isinstance(pipeline, Pipeline)
    with pytest.raises(UnknownConversationError):
        await pipeline.handle_message(ChatMessage(conversation_id="ghost", message_id="m1", role="customer", text="hi"))
    assert await pipeline.store.turns("ghost") == []
