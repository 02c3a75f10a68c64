"""Alert retention by age: alerts and erased-alert skeletons older than the retention leave Redis."""

from __future__ import annotations

import asyncio
import contextlib
import time

from monitor import redis_keys as keys
from monitor.privacy.retention import run_retention, trim_alerts
from monitor.runtime import redis_client

DAY_MS = 24 * 3600 * 1000


async def seed(redis_url: str, now_ms: int) -> None:
    redis = redis_client(redis_url)
    for age_days, seq in ((100, 0), (91, 0), (89, 0), (1, 0)):
        await redis.xadd(keys.ALERTS_STREAM, {"alert": "{}"}, id=f"{now_ms - age_days * DAY_MS}-{seq}")
    for by_alert_id in (keys.ERASED_ALERTS, keys.ALERT_ACKS):
        await redis.hset(by_alert_id, mapping={f"{now_ms - 95 * DAY_MS}-0": "{}", f"{now_ms - DAY_MS}-0": "{}"})
    await redis.aclose()


async def test_alerts_past_their_retention_are_trimmed(flushed_redis: str) -> None:
    """With 90 days, the 100- and 91-day-old alerts, and the 95-day-old skeleton and acknowledgement go; the
    younger ones stay."""
    now = time.time()
    now_ms = int(now * 1000)
    await seed(flushed_redis, now_ms)
    redis = redis_client(flushed_redis)
    assert await trim_alerts(redis, retention_s=90 * 24 * 3600, now=now) == 2
    left = [entry_id for entry_id, _ in await redis.xrange(keys.ALERTS_STREAM) or []]
    assert left == [f"{now_ms - 89 * DAY_MS}-0", f"{now_ms - DAY_MS}-0"]
    assert await redis.hkeys(keys.ERASED_ALERTS) == await redis.hkeys(keys.ALERT_ACKS) == [f"{now_ms - DAY_MS}-0"]
    await redis.aclose()


async def test_the_retention_loop_trims_until_cancelled(flushed_redis: str) -> None:
    """run_retention trims on its own schedule (the service starts it when CALMWATCH_ALERT_RETENTION_S > 0)."""
    await seed(flushed_redis, int(time.time() * 1000))
    redis = redis_client(flushed_redis)
    task = asyncio.create_task(run_retention(redis, retention_s=30 * 24 * 3600, every_s=0.01))
    for _ in range(500):
        if await redis.xlen(keys.ALERTS_STREAM) == 1:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert await redis.xlen(keys.ALERTS_STREAM) == 1
    await redis.aclose()
