"""Unit tests of the alert stage's cooldown rule and stream-id helpers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from monitor.alerts import Firing, draft_alerts, is_stream_id, next_firing, should_fire, stream_id_key
from monitor.schemas import AlertCandidate, ConversationMeta, Party, Severity, TurnRecord, TurnScores


def candidate(
    severity: Severity = "warning", cooldown_s: float = 60, variant: str | None = None, hold_s: float = 0.0
) -> AlertCandidate:
    return AlertCandidate(
        rule="anger",
        severity=severity,
        audience=["agent"],
        nudge="n",
        reason="r",  # type: ignore[arg-type]
        cooldown_s=cooldown_s,
        variant=variant,
        hold_after_critical_s=hold_s,
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
    assert draft.rule == "fresh"
    assert draft.firing == Firing(at=now.timestamp(), severity="critical", critical_at=now.timestamp())
    alert = draft.with_id("7-0")
    assert (alert.id, alert.agent_id, alert.customer_name, alert.message_id) == ("7-0", "a7", "Ana", "m3")
    assert alert.created_at == now


def test_a_new_variant_passes_the_cooldown_and_an_old_one_does_not() -> None:
    """Inside the cooldown a reason not yet raised in the window fires (rising, then threat); a repeat does not."""
    start = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    rising = candidate("critical", cooldown_s=900, variant="rising")
    first = next_firing(rising, None, start)
    assert first.variants == ["rising"]
    later = datetime(2026, 1, 1, 12, 1, 0, tzinfo=UTC)
    assert not should_fire(rising, first, later)
    threat = candidate("critical", cooldown_s=900, variant="threat")
    assert should_fire(threat, first, later)
    both = next_firing(threat, first, later)
    assert both.variants == ["rising", "threat"] and both.at == later.timestamp()
    assert not should_fire(rising, both, later) and not should_fire(threat, both, later)
    # After the window, a new one starts: what was raised before no longer counts.
    fresh = next_firing(rising, both, datetime(2026, 1, 1, 12, 30, 0, tzinfo=UTC))
    assert fresh.variants == ["rising"]
    # A firing stored before variants existed still reads, and a variant then counts as new.
    legacy = Firing.model_validate_json(json.dumps({"at": start.timestamp(), "severity": "critical"}))
    assert should_fire(threat, legacy, later) and legacy.last_critical_at == start.timestamp()


def test_lower_severity_alerts_wait_after_a_critical_one() -> None:
    """After a critical alert, lower-severity ones in the conversation are held back for the pack's window."""
    now = datetime(2026, 1, 1, 12, 1, 0, tzinfo=UTC)
    meta = ConversationMeta(conversation_id="c1", customer=Party(id="u"), agent=Party(id="a"), started_at=now)
    turn = TurnRecord(
        message_id="m", role="agent", text="t", sent_at=now, scores=TurnScores(anger=0, frustration=0, sentiment=0)
    )
    info = candidate("info", hold_s=180).model_copy(update={"rule": "use_name"})
    critical_30s_ago = {"vulgarity": Firing(at=now.timestamp() - 30, severity="critical")}
    assert draft_alerts([info], critical_30s_ago, meta, turn, now) == []
    critical_long_ago = {"vulgarity": Firing(at=now.timestamp() - 300, severity="critical")}
    assert [d.rule for d in draft_alerts([info], critical_long_ago, meta, turn, now)] == ["use_name"]
    exempt = info.model_copy(update={"hold_after_critical_s": 0.0})
    assert [d.rule for d in draft_alerts([exempt], critical_30s_ago, meta, turn, now)] == ["use_name"]
    # The turn that raises the critical alert keeps its other alerts; the hold-back starts after it.
    escalate = candidate("critical").model_copy(update={"rule": "escalate"})
    assert [d.rule for d in draft_alerts([info, escalate], {}, meta, turn, now)] == ["use_name", "escalate"]
    # The rule's last critical firing is remembered across a later, lower firing of the same rule.
    lower = next_firing(candidate("warning"), Firing(at=now.timestamp() - 600, severity="critical"), now)
    assert lower.critical_at == now.timestamp() - 600
