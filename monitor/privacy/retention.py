"""Retention: alerts older than ``CALMWATCH_ALERT_RETENTION_S`` leave the alert stream, whatever its length.

Conversation state already expires by itself (``CALMWATCH_CONVERSATION_TTL_S`` after its last turn: every key
of it has that TTL) and webhook delivery records after 30 days; the alert stream is only capped by count
(``CALMWATCH_ALERT_STREAM_MAXLEN``), which on a quiet installation means for ever. So a background loop trims
it by age (``XTRIM MINID``: stream ids are millisecond timestamps), and what is kept by alert id with it (the
skeletons of erased alerts, acknowledgements).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from redis.asyncio import Redis

from monitor import redis_keys as keys
from monitor.alerts import stream_id_key

log = structlog.get_logger("retention")

#: How often the loop trims; an alert outlives its retention by at most this long.
TRIM_EVERY_S = 60.0


async def trim_alerts(redis: Redis, *, retention_s: float, now: float | None = None) -> int:
    """Drop alerts, and the skeletons of erased alerts and the acknowledgements of any alert, older than
    ``retention_s``; returns how many alerts went."""
    floor_ms = int(((now if now is not None else time.time()) - retention_s) * 1000)
    removed = int(await redis.xtrim(keys.ALERTS_STREAM, minid=f"{floor_ms}-0", approximate=False))
    for by_alert_id in (keys.ERASED_ALERTS, keys.ALERT_ACKS):
        alert_ids: list[Any] = await redis.hkeys(by_alert_id)
        stale = [alert_id for alert_id in alert_ids if stream_id_key(alert_id) < (floor_ms, 0)]
        if stale:
            await redis.hdel(by_alert_id, *stale)
    return removed


async def run_retention(redis: Redis, *, retention_s: float, every_s: float = TRIM_EVERY_S) -> None:
    """Trim every ``every_s`` until cancelled; a failure (Redis away) is logged and tried again next time."""
    task = asyncio.current_task()
    while True:
        try:
            removed = await trim_alerts(redis, retention_s=retention_s)
            if removed:
                log.info("alerts past their retention removed", alerts=removed, retention_s=retention_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("alert retention trim failed; trying again later", error=str(exc))
        if task is not None and task.cancelling():
            # A cancellation that arrived inside a Redis command can be lost there (seen with redis-py 8.1: the
            # loop went on after cancel()), and the service's shutdown would then wait for ever.
            raise asyncio.CancelledError
        await asyncio.sleep(every_s)
