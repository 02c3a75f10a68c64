"""The pipeline stage by stage against a real Redis, with a fixed rule, a keyword scorer and a hand-moved clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from monitor.alerts import AlertLog, Firing
from monitor.errors import UnknownConversationError
from monitor.pipeline import Pipeline, judge_turn
from monitor.runtime import build_pipeline, redis_client
from monitor.schemas import (
    AlertCandidate,
    ChatMessage,
    ConversationMeta,
    ConversationSnapshot,
    ConversationStart,
    Party,
    ScoredReply,
    Severity,
    TurnRecord,
    TurnScores,
)
from monitor.state import ConversationStore, PendingTurn
from tests.conftest import make_settings
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
        if turn.role != "customer" or turn.scores is None or turn.scores.anger <= 0.5:
            return []
        severity: Severity = "critical" if turn.scores.anger >= 1.0 else "warning"
        return [AlertCandidate(rule="anger", severity=severity, audience=["agent"], nudge="stay calm",
                               reason=f"anger {turn.scores.anger:.2f}", cooldown_s=60)]  # fmt: skip

    def risk(self, snapshot: ConversationSnapshot) -> float:
        return max((t.scores.anger for t in snapshot.turns if t.scores is not None), default=0.0)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def pipeline_and_clock(flushed_redis: str) -> AsyncIterator[tuple[Pipeline, Clock]]:
    client = redis_client(flushed_redis)
    clock = Clock()
    rule = AngerOverHalf()
    settings = make_settings(flushed_redis, conversation_ttl_s=3600, turn_window=5, alert_stream_maxlen=1000)
    pipeline = build_pipeline(settings, redis=client, scorer=DirectScorer(), rules=lambda: rule, clock=clock)
    await pipeline.start_conversation(
        ConversationStart(conversation_id="c1", customer=Party(id="u", name="Ana"), agent=Party(id="a", name="Jo"))
    )
    yield pipeline, clock
    await client.aclose()


def msg(mid: str, text: str, role: str = "customer") -> ChatMessage:
    return ChatMessage(conversation_id="c1", message_id=mid, role=role, text=text)  # type: ignore[arg-type]


async def test_cooldown_holds_until_time_passes_or_severity_rises(
    pipeline_and_clock: tuple[Pipeline, Clock], flushed_redis: str
) -> None:
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
    reader = redis_client(flushed_redis)
    assert len(await AlertLog(reader).since("0")) == 3
    await reader.aclose()


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


def test_judge_turn_is_rules_risk_and_cooldowns_without_io() -> None:
    """judge_turn gives the rules' risk and the alerts that pass their cooldown, from plain values alone."""
    clock = Clock()
    meta = ConversationMeta(conversation_id="c1", customer=Party(id="u"), agent=Party(id="a"), started_at=clock.now)
    scores = TurnScores(anger=0.9, frustration=0.1, sentiment=-0.6)
    turn = TurnRecord(message_id="m1", role="customer", text="x", sent_at=clock.now, scores=scores)
    snapshot = ConversationSnapshot(meta=meta, turns=[turn])
    fresh = judge_turn(AngerOverHalf(), snapshot, {}, clock.now)
    assert fresh.risk == 0.9 and [d.rule for d in fresh.alerts] == ["anger"]
    recent = {"anger": Firing(at=clock.now.timestamp() - 30, severity="warning")}
    assert judge_turn(AngerOverHalf(), snapshot, recent, clock.now).alerts == []


async def test_a_turn_not_in_english_is_stored_unscored_without_the_model(flushed_redis: str) -> None:
    """The pipeline asks for the language before the model: a German turn never reaches the scorer, is stored
    and answered as ``scored: false, language: "de"``; with detection off the same turn is scored."""
    client = redis_client(flushed_redis)
    scorer = DirectScorer()
    start = ConversationStart(conversation_id="c1", customer=Party(id="u", name="Ana"), agent=Party(id="a"))
    german = "Das ist eine Frechheit, ich will sofort mein Geld zurück."
    try:
        pipeline = build_pipeline(
            make_settings(flushed_redis), redis=client, scorer=scorer, rules=lambda: AngerOverHalf()
        )
        await pipeline.start_conversation(start)
        reply = await pipeline.handle_message(msg("m1", german))
        assert (reply.scores.scored, reply.scores.language, reply.scores.anger) == (False, "de", None)
        assert scorer.inner.calls == []
        [stored] = await pipeline.store.turns("c1")
        assert stored.scores is None and stored.language == "de"
        english = await pipeline.handle_message(msg("m2", "ok thanks"))  # too short to doubt: English
        assert english.scores.scored and scorer.inner.calls == [1]
        off = build_pipeline(
            make_settings(flushed_redis, language_detection=False),
            redis=client,
            scorer=scorer,
            rules=lambda: AngerOverHalf(),
        )
        assert (await off.handle_message(msg("m3", german))).scores.scored
    finally:
        await client.aclose()


class DiesAfterCommit(ConversationStore):
    """A store whose process 'dies' once between a turn's commit and its alerts reaching the stream."""

    died = False

    async def complete(self, conversation_id: str, stored: str, pending: PendingTurn) -> ScoredReply:
        if not self.died:
            self.died = True
            raise ConnectionError("the process died here")
        return await super().complete(conversation_id, stored, pending)


async def test_alerts_of_a_turn_cut_off_after_its_commit_are_published_by_the_resend_once(
    pipeline_and_clock: tuple[Pipeline, Clock], flushed_redis: str
) -> None:
    """A turn committed but cut off before its alert reached the stream: the connector's resend completes it (one
    alert, the same reply), and the next turn is judged after it (the cooldown holds)."""
    pipeline, _ = pipeline_and_clock
    store, reader = pipeline.store, redis_client(flushed_redis)
    pipeline.store = DiesAfterCommit(reader, ttl_s=3600, window=5, alert_maxlen=1000)
    with pytest.raises(ConnectionError):
        await pipeline.handle_message(msg("m1", "ridiculous and unacceptable"))
    assert [t.message_id for t in await store.turns("c1")] == ["m1"], "the turn itself was committed"
    assert await AlertLog(reader).since("0") == []
    resent = await pipeline.handle_message(msg("m1", "ridiculous and unacceptable"))
    assert [a.rule for a in resent.alerts] == ["anger"]
    assert await pipeline.handle_message(msg("m1", "ridiculous and unacceptable")) == resent
    later = await pipeline.handle_message(msg("m2", "ridiculous and unacceptable"))
    assert later.alerts == [], "inside the cooldown of the completed turn's alert"
    assert [a.id for a in await AlertLog(reader).since("0")] == [resent.alerts[0].id]
    assert [t.message_id for t in await store.turns("c1")] == ["m1", "m2"]
    await reader.aclose()
