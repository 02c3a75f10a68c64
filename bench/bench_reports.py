"""How long a report takes to build (``GET /v1/reports`` after its Redis reads), for the report's alert cap.

The cost is the cooldown comparison: the rule pack runs again over every stored turn of each conversation that
had an alert in the window. This builds synthetic conversations (``--turns`` turns each, alternating customer
and agent, angry customer turns now and then so rules fire and cooldowns hold) and times
:func:`monitor.reports.build_report` over them with the default rule pack.

    .venv/bin/python -m bench.bench_reports [--conversations 500] [--turns 20] [--repeat 3]

A measurement to read, not a pass/fail: the machine's speed drifts (and it may be shared).
"""

from __future__ import annotations

import argparse
import os
import random
import time
from datetime import UTC, datetime, timedelta

from monitor.alerts import Firing, draft_alerts
from monitor.outcomes import ConversationRecord
from monitor.pipeline import as_judged
from monitor.reports import ReportData, Window, build_report
from monitor.rules import RuleEngine, load_rule_pack
from monitor.schemas import Alert, ConversationMeta, ConversationSnapshot, Party, Role, TurnRecord, TurnScores
from monitor.settings import default_rules_dir

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TEXTS = ["Where is my order?", "This is ridiculous, I am furious", "ok thanks", "Still nothing, third time asking"]


def conversation(i: int, turns: int, engine: RuleEngine, rng: random.Random) -> ConversationRecord:
    """A conversation whose alerts are what the rules and cooldowns make of it, as the service would store it."""
    meta = ConversationMeta(
        conversation_id=f"c{i}", customer=Party(id="u", name="Maria Lopez"), agent=Party(id=f"a{i % 7}"), started_at=T0
    )
    stored: list[TurnRecord] = []
    alerts: list[Alert] = []
    firings: dict[str, Firing] = {}
    for k in range(turns):
        at = T0 + timedelta(seconds=30 * k + i)
        role: Role = "customer" if k % 2 == 0 else "agent"
        anger = rng.choice([0.05, 0.2, 0.7, 0.9]) if role == "customer" else 0.02
        scores = TurnScores(anger=anger, frustration=rng.random() * 0.8, sentiment=0.0)
        stored.append(TurnRecord(message_id=f"m{k}", role=role, text=rng.choice(TEXTS), sent_at=at, scores=scores))
        snapshot = ConversationSnapshot(meta=meta, turns=[as_judged(t) for t in stored[-20:]])
        for n, draft in enumerate(draft_alerts(engine.evaluate(snapshot), firings, meta, stored[-1], at)):
            firings[draft.rule] = draft.firing
            alerts.append(draft.with_id(f"{int(at.timestamp() * 1000)}-{n}"))
    return ConversationRecord(meta, stored, alerts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    engine = load_rule_pack([default_rules_dir()])
    rng = random.Random(1)
    records = [conversation(i, args.turns, engine, rng) for i in range(args.conversations)]
    alerts = sorted((a for r in records for a in r.alerts), key=lambda a: a.created_at)
    data = ReportData(alerts, records, {})
    window = Window(since=T0 - timedelta(hours=1), until=T0 + timedelta(days=1))
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        build_report(data, engine, window, turn_window=20, horizon=3, teams={}, min_feedback=5)
        times.append(time.perf_counter() - started)
    load = os.getloadavg()[0]
    print(
        f"{args.conversations} conversations x {args.turns} turns, {len(alerts)} alerts: build_report "
        f"best {min(times):.2f} s of {args.repeat} (load average {load:.1f})"
    )


if __name__ == "__main__":
    main()
