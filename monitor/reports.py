"""The reports: alerts per rule over time, false alarms, recovery after nudges against cooldown turns,
per-conversation timelines and threshold suggestions, for ``/reports`` and ``calmwatch replay --html``.

:func:`load_window` reads what a report needs from Redis (the window's alerts, their conversations' turns and
every alert of those conversations, the current verdicts); :func:`build_report` and :func:`timeline` are pure,
so the same numbers come out of the service and out of a replay. A report covers the conversations that had an
alert in the window: the cooldown comparison needs a rule that fired, and a conversation without alerts has
nothing to report on.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from monitor import redis_keys as keys
from monitor.alerts import AlertLog
from monitor.outcomes import (
    ConversationRecord,
    Outcome,
    aggregate,
    compare,
    cooldown_outcomes,
    false_alarm_rates,
    grouped,
    nudged_outcomes,
    team_of,
)
from monitor.rules import RuleEngine
from monitor.schemas import Alert, ConversationMeta, Feedback, TurnRecord
from monitor.thresholds import KNOBS, Judged, suggest

#: Buckets of the "alerts per rule over time" plot: about this many across the window, on round sizes.
_TARGET_BUCKETS = 24
_BUCKET_SIZES_S = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
#: Conversations offered for the timeline, newest alert first.
MAX_LISTED_CONVERSATIONS = 100


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime

    @property
    def bucket_s(self) -> int:
        span = max(1.0, (self.until - self.since).total_seconds())
        return next((b for b in _BUCKET_SIZES_S if span / b <= _TARGET_BUCKETS), _BUCKET_SIZES_S[-1])

    def contains(self, at: datetime) -> bool:
        return self.since <= at <= self.until


@dataclass(frozen=True)
class ReportData:
    window_alerts: list[Alert]  # the alerts raised in the window, oldest first
    records: list[ConversationRecord]  # their conversations (still stored), with all of each one's alerts
    feedback: dict[str, Feedback]  # alert id -> current verdict


async def load_window(redis: Redis, window: Window, *, max_alerts: int) -> ReportData:
    """The window's alerts (the newest ``max_alerts``), their conversations and the current verdicts."""
    since_ms = int(window.since.timestamp() * 1000)
    until_ms = int(window.until.timestamp() * 1000)
    raw: Any = await redis.xrevrange(keys.ALERTS_STREAM, max=until_ms, min=since_ms, count=max_alerts)
    log = AlertLog(redis)
    window_alerts = [log.from_entry(entry_id, fields) for entry_id, fields in reversed(raw or [])]
    cids = list(dict.fromkeys(a.conversation_id for a in window_alerts))
    async with redis.pipeline(transaction=False) as pipe:
        for cid in cids:
            pipe.hget(keys.conversation(cid), "meta")
            pipe.lrange(keys.turns(cid), 0, -1)
            pipe.lrange(keys.conversation_alerts(cid), 0, -1)
        replies = await pipe.execute()
    stored: list[tuple[ConversationMeta, list[TurnRecord], list[str]]] = []
    for i in range(len(cids)):
        raw_meta, raw_turns, ids = replies[3 * i : 3 * i + 3]
        if raw_meta:
            meta = ConversationMeta.model_validate_json(raw_meta)
            stored.append((meta, [TurnRecord.model_validate_json(t) for t in raw_turns], list(ids)))
    every_id = [alert_id for _, _, ids in stored for alert_id in ids]
    by_id = {a.id: a for a in await log.get_many(every_id)} if every_id else {}
    records = [ConversationRecord(meta, turns, [by_id[i] for i in ids if i in by_id]) for meta, turns, ids in stored]
    raw_feedback = await redis.hmget(keys.ALERT_FEEDBACK, every_id) if every_id else []
    feedback = {i: Feedback.model_validate_json(r) for i, r in zip(every_id, raw_feedback, strict=True) if r}
    return ReportData(window_alerts, records, feedback)


def _series(alerts: Sequence[Alert], window: Window) -> dict[str, list[int]]:
    size = window.bucket_s
    start = math.floor(window.since.timestamp() / size) * size
    count = max(1, math.ceil((window.until.timestamp() - start) / size))
    series: dict[str, list[int]] = defaultdict(lambda: [0] * count)
    for alert in alerts:
        slot = min(count - 1, max(0, int((alert.created_at.timestamp() - start) // size)))
        series[alert.rule][slot] += 1
    return dict(series)


def _rows(
    groups: Mapping[str, Sequence[Outcome]], verdicts: Sequence[Feedback], key_of: Callable[[Feedback], str]
) -> list[dict[str, object]]:
    """One row per agent (or team): alerts, verdicts, false-alarm share and what followed its alerts."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for f in verdicts:
        counts[key_of(f)][f.verdict] += 1
    out = []
    for key, outcomes in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        helpful, false_alarm = counts[key]["helpful"], counts[key]["false_alarm"]
        judged = helpful + false_alarm
        out.append(
            {
                "key": key,
                "alerts": len(outcomes),
                "helpful": helpful,
                "false_alarm": false_alarm,
                "false_alarm_rate": round(false_alarm / judged, 4) if judged else None,
                "nudged": aggregate(outcomes).as_dict(),
            }
        )
    return out


def build_report(
    data: ReportData,
    engine: RuleEngine,
    window: Window,
    *,
    turn_window: int,
    horizon: int,
    teams: Mapping[str, str],
    min_feedback: int,
) -> dict[str, Any]:
    """Everything the reports page draws, as JSON-ready data (``GET /v1/reports``)."""
    in_window = {a.id for a in data.window_alerts}
    nudged: list[Outcome] = []
    cooldown: list[Outcome] = []
    for record in data.records:
        nudged += [o for o in nudged_outcomes(record, horizon=horizon) if o.alert_id in in_window]
        cooldown += [
            o for o in cooldown_outcomes(record, engine, window=turn_window, horizon=horizon) if window.contains(o.at)
        ]
    verdicts = [data.feedback[i] for i in in_window if i in data.feedback]
    rates = false_alarm_rates(verdicts)
    per_rule_nudged = grouped(nudged, lambda o: o.rule)
    per_rule_cooldown = grouped(cooldown, lambda o: o.rule)
    alert_counts = Counter(a.rule for a in data.window_alerts)
    rules = []
    for rule, count in alert_counts.most_common():
        rate = rates.get(rule, {"helpful": 0, "false_alarm": 0, "false_alarm_rate": None})
        rules.append(
            {
                "rule": rule,
                "alerts": count,
                "helpful": rate["helpful"],
                "false_alarm": rate["false_alarm"],
                "false_alarm_rate": rate["false_alarm_rate"],
                "recovery": compare(per_rule_nudged.get(rule, []), per_rule_cooldown.get(rule, [])),
            }
        )
    agents = _rows(grouped(nudged, lambda o: o.agent_id), verdicts, lambda f: f.agent_id)
    team_rows = _rows(
        grouped(nudged, lambda o: team_of(o.agent_id, teams)), verdicts, lambda f: team_of(f.agent_id, teams)
    )
    return {
        "window": {
            "since": window.since.isoformat(),
            "until": window.until.isoformat(),
            "bucket_s": window.bucket_s,
            "horizon_turns": horizon,
        },
        "totals": {
            "alerts": len(data.window_alerts),
            "conversations": len(data.records),
            "feedback": len(verdicts),
            "false_alarms": sum(f.verdict == "false_alarm" for f in verdicts),
        },
        "series": _series(data.window_alerts, window),
        "rules": rules,
        "agents": agents,
        "teams": [{**row, "key": row["key"] or "(no team)"} for row in team_rows],
        "conversations": _conversation_list(data, in_window),
        "suggestions": suggestions(data, engine, in_window, teams=teams, min_feedback=min_feedback),
    }


def _conversation_list(data: ReportData, in_window: set[str]) -> list[dict[str, object]]:
    rows = []
    for record in data.records:
        alerts = [a for a in record.alerts if a.id in in_window]
        if not alerts:
            continue
        verdicts = Counter(data.feedback[a.id].verdict for a in alerts if a.id in data.feedback)
        rows.append(
            {
                "conversation_id": record.meta.conversation_id,
                "customer": record.meta.customer.name,
                "agent": record.meta.agent.name or record.meta.agent.id,
                "alerts": len(alerts),
                "helpful": verdicts["helpful"],
                "false_alarm": verdicts["false_alarm"],
                "last_alert_at": alerts[-1].created_at.isoformat(),
            }
        )
    rows.sort(key=lambda r: str(r["last_alert_at"]), reverse=True)
    return rows[:MAX_LISTED_CONVERSATIONS]


def suggestions(
    data: ReportData, engine: RuleEngine, in_window: set[str], *, teams: Mapping[str, str], min_feedback: int
) -> list[dict[str, object]]:
    """Per tunable rule, overall and per team: the threshold the window's feedback argues for."""
    out: list[dict[str, object]] = []
    points: dict[tuple[str, str], list[Judged]] = defaultdict(list)
    for record in data.records:
        turns = {t.message_id: t for t in record.turns}
        for alert in record.alerts:
            verdict = data.feedback.get(alert.id)
            detector = engine.detector_of(alert.rule)
            turn = turns.get(alert.message_id)
            if alert.id not in in_window or verdict is None or turn is None or detector not in KNOBS:
                continue
            knob = KNOBS[detector]
            score = knob.score(turn)
            if score is None or not knob.applies(alert):
                continue
            point = Judged(score, verdict.verdict == "helpful")
            points[(alert.rule, "all")].append(point)
            if team := team_of(alert.agent_id, teams):
                points[(alert.rule, team)].append(point)
    for (rule, scope), judged in sorted(points.items()):
        detector = engine.detector_of(rule)
        assert detector is not None
        param = KNOBS[detector].param
        current = engine.parameter(rule, param)
        if not isinstance(current, int | float):
            continue
        found = suggest(rule, param, float(current), judged, min_feedback=min_feedback, scope=scope)
        if found is not None:
            out.append(found.as_dict())
    return out


def timeline(record: ConversationRecord, feedback: Mapping[str, Feedback]) -> dict[str, Any]:
    """One conversation for the timeline plot: every turn's scores, and the alerts with their verdicts."""
    index = {t.message_id: i for i, t in enumerate(record.turns)}
    meta = record.meta
    return {
        "conversation_id": meta.conversation_id,
        "customer": meta.customer.name,
        "agent": meta.agent.name or meta.agent.id,
        "turns": [
            {
                "index": i,
                "role": t.role,
                "at": t.sent_at.isoformat(),
                "anger": round(t.scores.anger, 4) if t.scores else None,  # None: not scored (another language)
                "frustration": round(t.scores.frustration, 4) if t.scores else None,
                "text": t.text[:280],
            }
            for i, t in enumerate(record.turns)
        ],
        "alerts": [
            {
                "id": a.id,
                "turn": index[a.message_id],
                "rule": a.rule,
                "severity": a.severity,
                "nudge": a.nudge,
                "feedback": feedback[a.id].verdict if a.id in feedback else None,
            }
            for a in record.alerts
            if a.message_id in index
        ],
    }
