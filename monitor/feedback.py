"""Feedback on alerts: "helpful" or "false alarm" from the agent it nudged or a supervisor, kept in Redis.

Each alert has one current verdict, the latest given (a field of the ``cw:{feedback}:latest`` hash, alert id ->
JSON :class:`~monitor.schemas.Feedback`); every verdict is also appended to the ``cw:{feedback}:log`` stream, so
a changed mind is history rather than lost, and the reports can tell how often people change theirs. Both are
written in one MULTI. A verdict is announced live (:class:`monitor.live.FeedbackEnvelope`) once it is stored.
The hash is pruned of alerts the alert stream has trimmed, and the log is capped like the alert stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from monitor import live
from monitor import redis_keys as keys
from monitor.alerts import prune_older_than_stream
from monitor.schemas import Alert, Feedback, Verdict, utcnow


class FeedbackStore:
    """Reads and writes verdicts; publishing them live is part of :meth:`give`.

    ``redis`` must decode responses (``decode_responses=True``)."""

    def __init__(self, redis: Redis, *, max_entries: int) -> None:
        self._redis = redis
        self._max_entries = max_entries

    async def give(
        self, alert: Alert, verdict: Verdict, *, by: str, by_role: str, note: str = "", key_id: str | None = None
    ) -> tuple[Feedback, str]:
        """Store the verdict as the alert's current one and in the log; returns it and its log entry id."""
        feedback = Feedback(
            alert_id=alert.id,
            rule=alert.rule,
            agent_id=alert.agent_id,
            verdict=verdict,
            note=note,
            by=by,
            by_role=by_role,
            key_id=key_id,
            at=utcnow(),
        )
        raw = feedback.model_dump_json()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.ALERT_FEEDBACK, alert.id, raw)
            pipe.xadd(keys.FEEDBACK_STREAM, {"feedback": raw}, maxlen=self._max_entries, approximate=True)
            pipe.hlen(keys.ALERT_FEEDBACK)
            _, entry_id, held = await pipe.execute()
        await live.publish(self._redis, live.FeedbackEnvelope(feedback=feedback))
        if int(held) > self._max_entries:
            await prune_older_than_stream(self._redis, keys.ALERT_FEEDBACK)
        return feedback, str(entry_id)

    async def get_many(self, alert_ids: Sequence[str]) -> dict[str, Feedback]:
        """The current verdicts of those alerts that have one, by alert id."""
        if not alert_ids:
            return {}
        raws = await self._redis.hmget(keys.ALERT_FEEDBACK, list(alert_ids))
        return {
            alert_id: Feedback.model_validate_json(raw) for alert_id, raw in zip(alert_ids, raws, strict=True) if raw
        }

    async def history(self, alert_id: str | None = None, *, limit: int = 1000) -> list[Feedback]:
        """Verdicts as given, oldest first (the newest ``limit``); with ``alert_id``, only that alert's."""
        entries: Any = await self._redis.xrevrange(keys.FEEDBACK_STREAM, count=limit)  # loosely typed by redis-py
        out = [Feedback.model_validate_json(fields["feedback"]) for _, fields in reversed(entries or [])]
        return [f for f in out if alert_id is None or f.alert_id == alert_id]
