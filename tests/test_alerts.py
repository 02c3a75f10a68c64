"""Unit tests of the alert stage's cooldown rule and stream-id helpers."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.alerts import Firing, draft_alerts, is_stream_id, should_fire, stream_id_key
from monitor.schemas import AlertCandidate, ConversationMeta, Party, Severity, TurnRecord, TurnScores


def candidate(severity: Severity = "warning", cooldown_s: float = 60) -> AlertCandidate:
    return AlertCandidate(
        rule="anger",
        severity=severity,
        audience=["agent"],
        nudge="n",
        reason="r",  # type: ignore[arg-type]
        cooldown_s=cooldown_s,
    )


def test_cooldown_suppresses_repeats_unless_severity_rises() -> None:
    """Inside the cooldown the same severity is suppressed, a higher one fires; after it, anything fires."""
    now = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
    last = Firing(at=datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp(), severity="warning")
    assert should_fire(candidate(), None, now)
    assert not should_fire(candidate("warning"), last, now)
    assert not should_fire(candidate("info"), last, now)
    assert should_fire(candidate("critical"), last, now)
    assert should_fire(candidate("warning", cooldown_s=30), last, now)


def test_stream_ids_order_numerically() -> None:
    """Alert ids compare as (milliseconds, sequence), not as strings."""
    assert stream_id_key("999-5") < stream_id_key("1000-0") < stream_id_key("1000-1")
    assert is_stream_id("1700000000000-0") and is_stream_id("0") and not is_stream_id("abc")


def test_drafts_keep_the_rules_order_and_drop_what_is_cooling_down() -> None:
    """draft_alerts applies each rule's cooldown from its last firing and fills the alert body from the turn."""
    now = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
    meta = ConversationMeta(
        conversation_id="c1", customer=Party(id="u", name="Ana"), agent=Party(id="a7"), started_at=now
    )
    turn = TurnRecord(
        message_id="m3",
        role="customer",
        text="t",
        sent_at=now,
        scores=TurnScores(anger=0.9, frustration=0.1, sentiment=-0.5),
    )
    cooling = candidate("warning").model_copy(update={"rule": "cooling"})
    fresh = candidate("critical").model_copy(update={"rule": "fresh"})
    last = {"cooling": Firing(at=now.timestamp() - 10, severity="warning")}
    [draft] = draft_alerts([cooling, fresh], last, meta, turn, now)
    assert draft.rule == "fresh" and draft.firing == Firing(at=now.timestamp(), severity="critical")
    alert = draft.with_id("7-0")
    assert (alert.id, alert.agent_id, alert.customer_name, alert.message_id) == ("7-0", "a7", "Ana", "m3")
    assert alert.created_at == now
