"""The feedback store: latest verdict per alert, every verdict in the log, pruned with the alert stream."""

from __future__ import annotations

import json
from typing import Any

from monitor import redis_keys as keys
from monitor.feedback import FeedbackStore
from monitor.runtime import redis_client
from monitor.schemas import Alert, utcnow


def alert(alert_id: str) -> Alert:
    return Alert(
        id=alert_id,
        rule="anger",
        severity="warning",
        conversation_id="c1",
        message_id="m1",
        agent_id="a1",
        audience=["agent"],
        nudge="n",
        reason="r",
        created_at=utcnow(),
    )


async def test_latest_verdict_wins_history_is_kept_and_trimmed_alerts_are_pruned(flushed_redis: str) -> None:
    """Two verdicts on one alert: the second is current, both are in the log; once the alert stream no longer
    holds an alert, its verdict is dropped when the hash grows past the cap."""
    redis = redis_client(flushed_redis)
    try:
        first = str(await redis.xadd(keys.ALERTS_STREAM, {"alert": json.dumps({})}))
        second = str(await redis.xadd(keys.ALERTS_STREAM, {"alert": json.dumps({})}))
        store = FeedbackStore(redis, max_entries=1)
        await store.give(alert(first), "false_alarm", by="a1", by_role="agent")
        feedback, entry_id = await store.give(alert(first), "helpful", by="Dana", by_role="supervisor", note="ok")
        assert (await store.get_many([first, second])) == {first: feedback}
        assert [f.verdict for f in await store.history(first)] == ["false_alarm", "helpful"]
        newest: Any = await redis.xrevrange(keys.FEEDBACK_STREAM, count=1)  # loosely typed by redis-py
        assert entry_id == newest[0][0]

        await redis.xdel(keys.ALERTS_STREAM, first)  # as MAXLEN trimming would
        await store.give(alert(second), "helpful", by="a1", by_role="agent")
        assert set(await store.get_many([first, second])) == {second}
    finally:
        await redis.aclose()
