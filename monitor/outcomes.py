"""Did the nudge work: what followed each alert, against what followed the same rule's turns in cooldown.

Pure functions over stored turns and alerts (no Redis, no clock), so the reports page, ``calmwatch replay`` and
the tests all compute the same numbers. For an alert raised on turn *i* of a conversation:

* ``anger_before`` / ``frustration_before``: the customer's scores on the latest customer turn up to *i*
  (the turn that raised it, or for an agent-side rule the customer turn the agent was answering); turns the
  model did not read (a language it does not know) count neither here nor after;
* ``anger_after`` / ``frustration_after``: their mean over the next ``horizon`` customer turns (``None`` when
  the customer never wrote again, e.g. the chat ended);
* ``de_escalated``: one of those turns reads calm (anger and frustration both below :data:`CALM_LEVEL`);
* ``escalated``: a later alert in the conversation is an escalation (rule ``escalate`` or severity critical);
* ``reply_s``: seconds from the raising turn to the agent's next reply.

The comparison group is *the turns where the rule would have fired but was in cooldown*: the rule engine is
run again over the stored turns, and each candidate that :func:`monitor.alerts.should_fire` holds back
(because the same rule fired shortly before) is measured the same way. Those turns met the same condition and
got no nudge, so "nudged recovery minus cooldown recovery" is the nudge's effect beyond regression to the mean
(upset customers calm down somewhat anyway). It is an observational comparison, not a trial: cooldown turns
come later in a conversation, shortly after a nudge; the reports show both groups' starting levels so a
reader can see how alike they were.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from monitor.alerts import Firing, should_fire
from monitor.pipeline import RuleEvaluator, as_judged
from monitor.schemas import Alert, ConversationMeta, ConversationSnapshot, Feedback, TurnRecord, TurnScores

#: Anger and frustration both below this: the customer reads calm (the replay's false-alarm check uses it too).
CALM_LEVEL = 0.3
#: Customer turns after the alert that its effect is measured over.
DEFAULT_HORIZON = 3
ESCALATION_RULE = "escalate"


@dataclass(frozen=True)
class Outcome:
    """What followed one turn on which a rule fired (``nudged``) or was held back by its cooldown."""

    rule: str
    conversation_id: str
    agent_id: str
    message_id: str
    at: datetime
    nudged: bool
    anger_before: float
    frustration_before: float
    anger_after: float | None
    frustration_after: float | None
    de_escalated: bool
    escalated: bool
    reply_s: float | None
    alert_id: str | None = None

    @property
    def upset_before(self) -> float:
        return max(self.anger_before, self.frustration_before)

    @property
    def recovery(self) -> float | None:
        """How far the customer's upset (the larger of anger and frustration) fell, on average, afterwards."""
        if self.anger_after is None or self.frustration_after is None:
            return None
        return self.upset_before - max(self.anger_after, self.frustration_after)


@dataclass(frozen=True)
class ConversationRecord:
    """One conversation as stored: its metadata, turns (oldest first) and the alerts raised in it."""

    meta: ConversationMeta
    turns: list[TurnRecord]
    alerts: list[Alert]


def _customer_scores(turn: TurnRecord) -> TurnScores | None:
    """A customer turn's scores; agent turns and turns the model did not read (``scores`` None) have none here."""
    return turn.scores if turn.role == "customer" else None


def _is_escalation(alert: Alert) -> bool:
    return alert.rule == ESCALATION_RULE or alert.severity == "critical"


def measure(
    record: ConversationRecord,
    index: int,
    rule: str,
    *,
    nudged: bool,
    horizon: int = DEFAULT_HORIZON,
    alert_id: str | None = None,
) -> Outcome | None:
    """What followed turn ``index`` of the conversation; ``None`` if no customer turn came before it."""
    turns = record.turns
    customer_before = [s for t in turns[: index + 1] if (s := _customer_scores(t)) is not None]
    if not customer_before:
        return None
    base = customer_before[-1]
    later_customer = [s for t in turns[index + 1 :] if (s := _customer_scores(t)) is not None][:horizon]
    next_reply = next((t for t in turns[index + 1 :] if t.role == "agent"), None)
    positions = {t.message_id: i for i, t in enumerate(turns)}
    escalated = any(
        _is_escalation(a) and positions.get(a.message_id, -1) > index and a.id != alert_id for a in record.alerts
    )
    return Outcome(
        rule=rule,
        conversation_id=record.meta.conversation_id,
        agent_id=record.meta.agent.id,
        message_id=turns[index].message_id,
        at=turns[index].sent_at,
        nudged=nudged,
        anger_before=base.anger,
        frustration_before=base.frustration,
        anger_after=statistics.fmean(s.anger for s in later_customer) if later_customer else None,
        frustration_after=statistics.fmean(s.frustration for s in later_customer) if later_customer else None,
        de_escalated=any(max(s.anger, s.frustration) < CALM_LEVEL for s in later_customer),
        escalated=escalated,
        reply_s=(next_reply.sent_at - turns[index].sent_at).total_seconds() if next_reply else None,
        alert_id=alert_id,
    )


def nudged_outcomes(record: ConversationRecord, *, horizon: int = DEFAULT_HORIZON) -> list[Outcome]:
    """One outcome per alert of the conversation whose turn is still stored."""
    positions = {t.message_id: i for i, t in enumerate(record.turns)}
    out = []
    for alert in record.alerts:
        index = positions.get(alert.message_id)
        if index is None:
            continue
        outcome = measure(record, index, alert.rule, nudged=True, horizon=horizon, alert_id=alert.id)
        if outcome is not None:
            out.append(outcome)
    return out


def cooldown_outcomes(
    record: ConversationRecord, rules: RuleEvaluator, *, window: int, horizon: int = DEFAULT_HORIZON
) -> list[Outcome]:
    """Outcomes of the turns where a rule's condition held but its cooldown kept it quiet.

    The engine sees each turn as the service did (the last ``window`` turns, texts cut as the rules read
    them); the last firings are the conversation's real alerts, so "in cooldown" is judged exactly as the
    alert stage judged it (:func:`monitor.alerts.should_fire`), with the turn's own time as the clock."""
    raised: dict[str, list[Alert]] = defaultdict(list)
    for alert in record.alerts:
        raised[alert.message_id].append(alert)
    last: dict[str, Firing] = {}
    out: list[Outcome] = []
    for index, turn in enumerate(record.turns):
        fired_here = {a.rule for a in raised.get(turn.message_id, [])}
        snapshot = ConversationSnapshot(
            meta=record.meta, turns=[as_judged(t) for t in record.turns[max(0, index - window + 1) : index + 1]]
        )
        for candidate in rules.evaluate(snapshot):
            previous = last.get(candidate.rule)
            if candidate.rule in fired_here or previous is None:
                continue
            if not should_fire(candidate, previous, turn.sent_at):
                outcome = measure(record, index, candidate.rule, nudged=False, horizon=horizon)
                if outcome is not None:
                    out.append(outcome)
        for alert in raised.get(turn.message_id, []):
            last[alert.rule] = Firing(at=alert.created_at.timestamp(), severity=alert.severity)
    return out


# ------------------------------------------------------------------------------------------------ aggregates


@dataclass(frozen=True)
class Aggregate:
    """Means over a group of outcomes; ``None`` where no outcome had the number."""

    count: int
    measured: int  # outcomes with at least one later customer turn
    upset_before: float | None
    anger_change: float | None  # mean of (after - before): negative is calmer
    frustration_change: float | None
    recovery: float | None  # mean fall in upset: positive is calmer
    de_escalated_rate: float | None
    escalated_rate: float | None
    median_reply_s: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def _mean(values: Iterable[float]) -> float | None:
    got = list(values)
    return round(statistics.fmean(got), 4) if got else None


def aggregate(outcomes: Sequence[Outcome]) -> Aggregate:
    measured = [o for o in outcomes if o.recovery is not None]
    replies = [o.reply_s for o in outcomes if o.reply_s is not None]
    return Aggregate(
        count=len(outcomes),
        measured=len(measured),
        upset_before=_mean(o.upset_before for o in outcomes),
        anger_change=_mean(o.anger_after - o.anger_before for o in measured if o.anger_after is not None),
        frustration_change=_mean(
            o.frustration_after - o.frustration_before for o in measured if o.frustration_after is not None
        ),
        recovery=_mean(o.recovery for o in measured if o.recovery is not None),
        de_escalated_rate=_mean(float(o.de_escalated) for o in measured),
        escalated_rate=_mean(float(o.escalated) for o in outcomes) if outcomes else None,
        median_reply_s=round(statistics.median(replies), 1) if replies else None,
    )


def compare(nudged: Sequence[Outcome], cooldown: Sequence[Outcome]) -> dict[str, object]:
    """Both groups' aggregates and the difference in recovery (the nudge's effect beyond the cooldown turns')."""
    a, b = aggregate(nudged), aggregate(cooldown)
    effect = round(a.recovery - b.recovery, 4) if a.recovery is not None and b.recovery is not None else None
    return {"nudged": a.as_dict(), "cooldown": b.as_dict(), "effect": effect}


def grouped(outcomes: Iterable[Outcome], key: Callable[[Outcome], str]) -> dict[str, list[Outcome]]:
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        groups[key(outcome)].append(outcome)
    return dict(groups)


def false_alarm_rates(feedback: Iterable[Feedback]) -> dict[str, dict[str, float | int]]:
    """Per rule: helpful and false-alarm verdicts (current ones) and the share that were false alarms."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"helpful": 0, "false_alarm": 0})
    for f in feedback:
        counts[f.rule][f.verdict] += 1
    return {
        rule: {**c, "false_alarm_rate": round(c["false_alarm"] / (c["helpful"] + c["false_alarm"]), 4)}
        for rule, c in counts.items()
    }


def team_of(agent_id: str, teams: Mapping[str, str]) -> str:
    """The team an agent belongs to (``agent_teams`` setting); agents not listed are in no team."""
    return teams.get(agent_id, "")
