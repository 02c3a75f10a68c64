"""The live envelopes, the audience rule (who receives what) and the one publisher, against a real Redis."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from monitor import live
from monitor import redis_keys as keys
from monitor.live import (
    AckEnvelope,
    AgentNudges,
    AlertEnvelope,
    ConversationEndedEnvelope,
    SupervisorFeed,
    TurnEnvelope,
)
from monitor.runtime import redis_client
from monitor.schemas import Acknowledgement, Alert, AudienceMember, Scores

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def alert(agent_id: str = "a1", audience: list[AudienceMember] | None = None, alert_id: str = "1-0") -> AlertEnvelope:
    return AlertEnvelope(
        alert=Alert(
            id=alert_id,
            rule="anger",
            severity="warning",
            conversation_id="c1",
            message_id="m1",
            agent_id=agent_id,
            audience=audience if audience is not None else ["agent", "supervisor"],
            nudge="n",
            reason="r",
            created_at=AT,
        )
    )


def turn(agent_id: str = "a1") -> TurnEnvelope:
    return TurnEnvelope(
        conversation_id="c1",
        agent_id=agent_id,
        message_id="m1",
        role="customer",
        sent_at=AT,
        scores=Scores(anger=0.8, frustration=0.2, sentiment=-0.6),
        risk=0.7,
    )


def ack() -> AckEnvelope:
    return AckEnvelope(ack=Acknowledgement(alert_id="1-0", by="Dana", at=AT, key_id="open"))


def test_supervisor_feed_gets_alerts_and_acks_and_turns_only_when_asked() -> None:
    """The feed always gets alerts and acknowledgements; turns only with include=turns (or its alias turn)."""
    plain = SupervisorFeed.including("")
    assert plain.accepts(alert()) and plain.accepts(ack()) and not plain.accepts(turn())
    for include in ("turns", " turns ,", "turn"):
        assert SupervisorFeed.including(include).accepts(turn()), include


def test_agent_nudges_are_alerts_for_agents_in_that_agents_conversations() -> None:
    """An agent gets alerts addressed to agents, the customer's turns (scored or "not scored (German)") and the
    end of its own conversations; never acks, its own replies, or anything of another agent's chats."""
    mine = AgentNudges("a1")
    assert mine.accepts(alert("a1"))
    assert not mine.accepts(alert("a2"))
    assert not mine.accepts(alert("a1", audience=["supervisor"]))
    assert mine.accepts(turn("a1")) and not mine.accepts(turn("a2")) and not mine.accepts(ack())
    assert not mine.accepts(turn("a1").model_copy(update={"role": "agent"}))
    ended = ConversationEndedEnvelope(conversation_id="c1", agent_id="a1", ended_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert mine.accepts(ended) and not AgentNudges("a2").accepts(ended)
    assert SupervisorFeed.including("turns").accepts(ended) and not SupervisorFeed.including("").accepts(ended)


def test_envelopes_round_trip_and_unknown_types_are_refused() -> None:
    """Each envelope parses back to itself from its JSON; a type no envelope has is a ValidationError."""
    for envelope in (alert(), turn(), ack()):
        assert live.parse(envelope.model_dump_json()) == envelope
    assert turn().model_dump(mode="json")["sent_at"] == "2026-11-23T09:00:00Z"
    with pytest.raises(ValidationError):
        live.parse('{"type": "teleport"}')


async def test_publish_announces_envelopes_in_order_on_the_live_channel(flushed_redis: str) -> None:
    """publish() puts every envelope on cw:live, in the order given, in one call; none is a no-op."""
    redis = redis_client(flushed_redis)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(keys.LIVE_CHANNEL)
        await live.publish(redis)
        await live.publish(redis, alert(alert_id="5-0"), turn(), ack())
        received: list[live.Envelope] = []
        while len(received) < 3:
            message = await asyncio.wait_for(pubsub.get_message(timeout=5), timeout=10)
            if message is not None:
                received.append(live.parse(message["data"]))
        assert [e.type for e in received] == ["alert", "turn", "alert.acknowledged"]
        assert isinstance(received[0], AlertEnvelope) and received[0].alert.id == "5-0"
    finally:
        await pubsub.aclose()
        await redis.aclose()
