"""The alert stage: cooldowns, ids, persistence and live fan-out of what the rules raise.

An alert is an entry of the ``cw:alerts`` Redis Stream; its stream id is the alert id, so ids are unique,
ordered by time, and usable as a resume cursor (``?since=<id>``). After it is stored it is published on a
pub/sub channel for the websocket hubs of every service process; a client that missed some resumes from the
stream, so pub/sub loss never means alert loss.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from monitor import redis_keys as keys
from monitor.schemas import SEVERITY_RANK, Alert, AlertCandidate, ConversationMeta, TurnRecord

_STREAM_ID = re.compile(r"^\d+(-\d+)?$")


def is_stream_id(value: str) -> bool:
    """True for a Redis Stream id (``1700000000000-0``, or just the millisecond part)."""
    return bool(_STREAM_ID.match(value))


def stream_id_key(alert_id: str) -> tuple[int, int]:
    """Sort key for stream ids, which do not order correctly as strings."""
    ms, _, seq = alert_id.partition("-")
    return int(ms), int(seq or 0)


def should_fire(candidate: AlertCandidate, last: dict[str, object] | None, now: datetime) -> bool:
    """No alert storms: inside the cooldown a rule fires again only if its severity rises."""
    if last is None:
        return True
    elapsed = now.timestamp() - float(str(last["at"]))
    if elapsed >= candidate.cooldown_s:
        return True
    return SEVERITY_RANK[candidate.severity] > SEVERITY_RANK[str(last["severity"])]


def _decode(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class AlertLog:
    """Persists alerts in the stream and reads them back; the only writer of alert keys."""

    def __init__(self, redis: Redis, *, maxlen: int) -> None:
        self._redis = redis
        self._maxlen = maxlen

    async def raise_alerts(
        self,
        candidates: Sequence[AlertCandidate],
        meta: ConversationMeta,
        turn: TurnRecord,
        now: datetime,
    ) -> list[Alert]:
        """Apply cooldowns, store the survivors and publish them. Callers serialise per conversation."""
        if not candidates:
            return []
        cid = meta.conversation_id
        raw_firings = await self._redis.hmget(keys.rule_firings(cid), [c.rule for c in candidates])
        alerts: list[Alert] = []
        for candidate, raw_last in zip(candidates, raw_firings, strict=True):
            last = json.loads(raw_last) if raw_last else None
            if not should_fire(candidate, last, now):
                continue
            body = {
                "rule": candidate.rule,
                "severity": candidate.severity,
                "conversation_id": cid,
                "message_id": turn.message_id,
                "agent_id": meta.agent.id,
                "customer_name": meta.customer.name,
                "audience": candidate.audience,
                "nudge": candidate.nudge,
                "reason": candidate.reason,
                "created_at": now.isoformat(),
            }
            raw_id = await self._redis.xadd(
                keys.ALERTS_STREAM, {"alert": json.dumps(body)}, maxlen=self._maxlen, approximate=True
            )
            alert = Alert.model_validate({"id": _decode(raw_id), **body})
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(
                    keys.rule_firings(cid),
                    candidate.rule,
                    json.dumps({"at": now.timestamp(), "severity": candidate.severity}),
                )
                pipe.rpush(keys.conversation_alerts(cid), alert.id)
                pipe.publish(keys.LIVE_CHANNEL, json.dumps({"type": "alert", "alert": alert.model_dump(mode="json")}))
                await pipe.execute()
            alerts.append(alert)
        return alerts

    async def since(self, after_id: str | None, *, limit: int = 100) -> list[Alert]:
        """Alerts after ``after_id`` (exclusive), oldest first; with no cursor, the latest ``limit`` alerts."""
        entries: list[tuple[Any, Any]]  # redis-py types stream entries loosely
        if after_id is None:
            entries = list(reversed(await self._redis.xrevrange(keys.ALERTS_STREAM, count=limit) or []))
        else:
            entries = list(await self._redis.xrange(keys.ALERTS_STREAM, min=f"({after_id}", count=limit) or [])
        return [self._from_entry(entry_id, fields) for entry_id, fields in entries]

    async def get_many(self, alert_ids: Sequence[str]) -> list[Alert]:
        """Alerts by id, in the order given; ids trimmed out of the stream are skipped."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for alert_id in alert_ids:
                pipe.xrange(keys.ALERTS_STREAM, min=alert_id, max=alert_id, count=1)
            results = await pipe.execute()
        return [self._from_entry(*found[0]) for found in results if found]

    @staticmethod
    def _from_entry(entry_id: bytes | str, fields: dict[bytes | str, bytes | str]) -> Alert:
        raw = fields.get(b"alert") or fields.get("alert")
        assert raw is not None, "alert stream entry without an 'alert' field"
        return Alert.model_validate({"id": _decode(entry_id), **json.loads(raw)})
