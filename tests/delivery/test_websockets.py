"""The websocket hub: envelopes from the live channel reach the local sockets whose audience accepts them."""

from __future__ import annotations

import asyncio
import contextlib

from monitor import live
from monitor import redis_keys as keys
from monitor.delivery.websockets import LiveHub
from monitor.live import AgentNudges, SupervisorFeed
from monitor.runtime import redis_client
from tests.test_live import ack, alert, turn


async def test_hub_sorts_envelopes_by_audience_and_skips_unreadable_ones(flushed_redis: str) -> None:
    """Each subscriber gets what its audience accepts, in order; a message that is no envelope is skipped."""
    redis = redis_client(flushed_redis)
    hub = LiveHub(redis)
    feed = hub.subscribe(SupervisorFeed.including("turns"))
    nudges = hub.subscribe(AgentNudges("a1"))
    running = asyncio.create_task(hub.run())
    try:
        await asyncio.wait_for(hub.ready.wait(), timeout=10)
        await redis.publish(keys.LIVE_CHANNEL, '{"type": "teleport"}')
        await live.publish(redis, alert("a2", alert_id="1-0"), turn(), ack(), alert("a1", alert_id="2-0"))
        got_feed = [await asyncio.wait_for(feed.queue.get(), timeout=10) for _ in range(4)]
        got_turn, got_nudge = [await asyncio.wait_for(nudges.queue.get(), timeout=10) for _ in range(2)]
        assert [e.type for e in got_feed] == ["alert", "turn", "alert.acknowledged", "alert"]
        assert isinstance(got_turn, live.TurnEnvelope) and got_turn.agent_id == "a1"  # a1's customer turn
        assert isinstance(got_nudge, live.AlertEnvelope) and got_nudge.alert.id == "2-0"
        assert nudges.queue.empty() and not running.done()
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await redis.aclose()
