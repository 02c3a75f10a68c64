"""The report built from stored records: per rule, per team, and a suggestion from the window's feedback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.outcomes import ConversationRecord
from monitor.reports import ReportData, Window, build_report
from monitor.rules import load_rule_pack
from monitor.schemas import Alert, ConversationMeta, Feedback, Party, TurnRecord, TurnScores
from tests.paths import REPO_ROOT

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def record(i: int, anger: float, agent: str) -> tuple[ConversationRecord, Alert]:
    meta = ConversationMeta(conversation_id=f"c{i}", customer=Party(id="u"), agent=Party(id=agent), started_at=T0)
    at = T0 + timedelta(minutes=i)
    turns = [
        TurnRecord(message_id="m1", role="customer", text="x", sent_at=at,
                   scores=TurnScores(anger=anger, frustration=0.1, sentiment=0.0)),
        TurnRecord(message_id="m2", role="customer", text="y", sent_at=at + timedelta(seconds=30),
                   scores=TurnScores(anger=0.1, frustration=0.1, sentiment=0.0)),
    ]  # fmt: skip
    alert = Alert(
        id=f"{int(at.timestamp() * 1000)}-0",
        rule="anger",
        severity="warning",
        conversation_id=f"c{i}",
        message_id="m1",
        agent_id=agent,
        audience=["agent"],
        nudge="n",
        reason="r",
        created_at=at,
    )
    return ConversationRecord(meta, turns, [alert]), alert


def test_report_counts_verdicts_per_rule_and_team_and_suggests_a_threshold() -> None:
    """Three false alarms at anger 0.62-0.66 and three helpful ones at 0.8+: per-rule and per-team rows, and
    suggestions for all agents and for the team that gave the feedback (its members' verdicts only)."""
    engine = load_rule_pack([REPO_ROOT / "rules"])
    scores = [0.62, 0.64, 0.66, 0.8, 0.85, 0.9]
    built = [record(i, s, "sam" if i % 2 else "lee") for i, s in enumerate(scores)]
    feedback = {
        a.id: Feedback(
            alert_id=a.id,
            rule="anger",
            agent_id=a.agent_id,
            verdict="false_alarm" if s < 0.7 else "helpful",
            by=a.agent_id,
            by_role="agent",
            at=a.created_at,
        )
        for (_, a), s in zip(built, scores, strict=True)
    }
    data = ReportData([a for _, a in built], [r for r, _ in built], feedback)
    window = Window(since=T0 - timedelta(hours=1), until=T0 + timedelta(hours=1))
    teams = {"sam": "billing", "lee": "billing"}
    report = build_report(data, engine, window, turn_window=20, horizon=3, teams=teams, min_feedback=5)
    [anger] = report["rules"]
    assert (anger["alerts"], anger["helpful"], anger["false_alarm"], anger["false_alarm_rate"]) == (6, 3, 3, 0.5)
    assert anger["recovery"]["nudged"]["measured"] == 6 and anger["recovery"]["effect"] is None  # no cooldown turns
    assert [t["key"] for t in report["teams"]] == ["billing"] and report["teams"][0]["false_alarm_rate"] == 0.5
    assert sum(report["series"]["anger"]) == 6 and report["window"]["bucket_s"] == 300
    found = {(s["rule"], s["scope"]): s for s in report["suggestions"]}
    assert set(found) == {("anger", "all"), ("anger", "billing")}
    assert found[("anger", "all")]["suggested"]["threshold"] == 0.67
    assert found[("anger", "all")]["suggested"]["precision"] == 1.0
