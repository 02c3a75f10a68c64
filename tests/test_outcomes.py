"""What followed each alert, and the cooldown turns it is compared with: pure functions over stored turns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.outcomes import (
    ConversationRecord,
    aggregate,
    compare,
    cooldown_outcomes,
    false_alarm_rates,
    nudged_outcomes,
)
from monitor.rules import load_rule_pack
from monitor.schemas import Alert, ConversationMeta, Feedback, Party, TurnRecord, TurnScores
from tests.paths import REPO_ROOT

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
META = ConversationMeta(
    conversation_id="c1", customer=Party(id="u1", name="Maria Lopez"), agent=Party(id="a1", name="Sam"), started_at=T0
)


def turn(i: int, role: str, anger: float, frustration: float = 0.05, *, at_s: float | None = None) -> TurnRecord:
    scores = TurnScores(anger=anger, frustration=frustration, sentiment=0.0)
    sent = T0 + timedelta(seconds=at_s if at_s is not None else 30 * i)
    return TurnRecord(message_id=f"m{i}", role=role, text="text", sent_at=sent, scores=scores)  # type: ignore[arg-type]


def alert(i: int, rule: str, at: datetime, severity: str = "warning") -> Alert:
    return Alert(
        id=f"{int(at.timestamp() * 1000)}-0",
        rule=rule,
        severity=severity,  # type: ignore[arg-type]
        conversation_id="c1",
        message_id=f"m{i}",
        agent_id="a1",
        audience=["agent"],
        nudge="n",
        reason="r",
        created_at=at,
    )


def test_an_alert_is_measured_against_the_customer_turns_that_follow() -> None:
    """Scores before vs the mean of the next customer turns, calming down, escalation later, the agent's reply time."""
    turns = [
        turn(0, "customer", 0.9, 0.6),
        turn(1, "agent", 0.0, at_s=75),
        turn(2, "customer", 0.5),
        turn(3, "customer", 0.1),
    ]
    raised = alert(0, "anger", turns[0].sent_at)
    later = alert(3, "escalate", turns[3].sent_at, "critical")
    [first, second] = nudged_outcomes(ConversationRecord(META, turns, [raised, later]), horizon=3)
    assert (first.anger_before, first.frustration_before) == (0.9, 0.6)
    assert first.anger_after == 0.3 and first.frustration_after == 0.05
    assert first.recovery == 0.9 - 0.3
    assert first.de_escalated and first.escalated and first.reply_s == 75.0
    assert second.anger_after is None and second.recovery is None and not second.escalated  # nothing followed it


def test_turns_held_back_by_the_cooldown_form_the_comparison_group() -> None:
    """The anger rule fires on turn 0; the angry turn 2, one minute later, is in its cooldown and becomes a control;
    turn 4, after the cooldown, fired for real and is no control."""
    engine = load_rule_pack([REPO_ROOT / "rules"])
    cooldown = next(r.cooldown_s for r in engine.rules if r.id == "anger")
    turns = [
        turn(0, "customer", 0.9),
        turn(1, "agent", 0.0),
        turn(2, "customer", 0.8, at_s=60),
        turn(3, "customer", 0.2, at_s=90),
        turn(4, "customer", 0.9, at_s=60 + cooldown + 10),
    ]
    alerts = [alert(0, "anger", turns[0].sent_at), alert(4, "anger", turns[4].sent_at)]
    record = ConversationRecord(META, turns, alerts)
    controls = [o for o in cooldown_outcomes(record, engine, window=20) if o.rule == "anger"]
    assert [o.message_id for o in controls] == ["m2"]
    assert not controls[0].nudged and controls[0].anger_before == 0.8
    assert controls[0].anger_after is not None


def test_aggregates_and_the_effect_beyond_the_cooldown_turns() -> None:
    """compare() gives both groups' means and nudged recovery minus cooldown recovery."""
    turns = [turn(0, "customer", 0.9), turn(1, "customer", 0.1), turn(2, "customer", 0.8), turn(3, "customer", 0.6)]
    record = ConversationRecord(META, turns, [])
    from monitor.outcomes import measure

    nudged = measure(record, 0, "anger", nudged=True, horizon=1)
    control = measure(record, 2, "anger", nudged=False, horizon=1)
    assert nudged is not None and control is not None
    result = compare([nudged], [control])
    assert result["effect"] == round((0.9 - 0.1) - (0.8 - 0.6), 4)
    assert aggregate([]).recovery is None and aggregate([nudged]).de_escalated_rate == 1.0


def test_false_alarm_rate_per_rule_uses_current_verdicts() -> None:
    """Helpful and false-alarm counts per rule, and the false-alarm share."""

    def verdict(rule: str, v: str) -> Feedback:
        return Feedback(alert_id="1-0", rule=rule, agent_id="a1", verdict=v, by="a1", by_role="agent", at=T0)  # type: ignore[arg-type]

    rates = false_alarm_rates(
        [verdict("anger", "helpful"), verdict("anger", "false_alarm"), verdict("shouting", "false_alarm")]
    )
    assert rates["anger"] == {"helpful": 1, "false_alarm": 1, "false_alarm_rate": 0.5}
    assert rates["shouting"]["false_alarm_rate"] == 1.0


def test_turns_the_model_did_not_read_are_left_out() -> None:
    """An unscored customer turn (another language) is neither the baseline nor part of what followed."""
    unscored = turn(1, "customer", 0.0).model_copy(update={"scores": None})
    turns = [turn(0, "customer", 0.9), unscored, turn(2, "customer", 0.2)]
    [outcome] = nudged_outcomes(ConversationRecord(META, turns, [alert(0, "anger", turns[0].sent_at)]), horizon=1)
    assert outcome.anger_after == 0.2  # the next *scored* customer turn
    lone = ConversationRecord(META, [unscored], [alert(1, "anger", unscored.sent_at)])
    assert nudged_outcomes(lone) == []  # no scored customer turn to start from
