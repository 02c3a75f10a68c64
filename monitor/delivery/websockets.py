"""Live fan-out of alerts (and turn updates) to websocket clients: supervisor feeds and agent sidebars.

One :class:`LiveHub` per service process listens on the Redis pub/sub channel and copies each envelope
(:mod:`monitor.live`) into the bounded queue of every local client whose audience accepts it. Alerts published
while the hub was not subscribed (a Redis restart) are not lost: after each resubscribe the hub reads the alert
stream from shortly before the loss and dispatches what it had not, so connected clients need not reconnect.
A client that cannot keep up is closed (code 1013, "try again later") rather than buffered without bound; it reconnects
with ``?since=<last id>`` and :func:`follow_alerts` replays the gap from the alert stream, so nothing is lost
either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import structlog
from pydantic import ValidationError
from redis.asyncio import Redis
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from monitor import live
from monitor import redis_keys as keys
from monitor.alerts import AlertLog, stream_id_key
from monitor.live import AlertEnvelope, Audience, Envelope

log = structlog.get_logger("delivery.websockets")

#: Close code for a client that fell too far behind (RFC 6455 "Try Again Later").
CLOSE_TOO_SLOW = 1013
REPLAY_PAGE = 500
#: After a resubscribe, the stream is re-read from this long before the subscription was lost (an alert is
#: published right after its commit, so one committed earlier than that was heard before the loss).
RESUME_MARGIN_S = 5.0
#: How many recently dispatched alert ids the hub remembers, so a re-read or repeated alert is sent once.
RECENT_ALERTS = 10_000


@dataclass(eq=False)
class Subscriber:
    audience: Audience
    queue: asyncio.Queue[Envelope]
    overflowed: bool = field(default=False)


class LiveHub:
    """Process-local fan-out from the ``cw:live`` channel; ``run`` is a background task of the app."""

    def __init__(self, redis: Redis, *, client_queue_size: int = 1000) -> None:
        self._redis = redis
        self._queue_size = client_queue_size
        self._subscribers: set[Subscriber] = set()
        self._recent: OrderedDict[str, None] = OrderedDict()  # alert ids dispatched lately, oldest first
        self.resubscribes = 0
        self.ready = asyncio.Event()

    def subscribe(self, audience: Audience) -> Subscriber:
        sub = Subscriber(audience=audience, queue=asyncio.Queue(maxsize=self._queue_size))
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    def dispatch(self, envelope: Envelope) -> None:
        if isinstance(envelope, AlertEnvelope):
            if envelope.alert.id in self._recent:
                return  # already dispatched (re-read from the stream after a resubscribe, or published twice)
            self._recent[envelope.alert.id] = None
            if len(self._recent) > RECENT_ALERTS:
                self._recent.popitem(last=False)
        for sub in list(self._subscribers):
            if sub.overflowed or not sub.audience.accepts(envelope):
                continue
            try:
                sub.queue.put_nowait(envelope)
            except asyncio.QueueFull:
                sub.overflowed = True  # the follower drains what it has, then closes the socket
                log.warning("websocket client too slow; closing it so it resumes from the stream")

    async def run(self) -> None:
        """Listen until cancelled; reconnects to Redis with a short backoff if the subscription drops."""
        backoff = 0.2
        heard_at = time.time()  # when the channel last said anything (an envelope or a subscribe confirmation)
        gap = False  # the subscription was lost: the next confirmation starts a re-read of the stream
        while True:
            # Subscribe confirmations are kept: redis-py may reconnect and resubscribe by itself after a
            # connection error, and a second confirmation is the only sign that messages were missed meanwhile.
            pubsub = self._redis.pubsub(ignore_subscribe_messages=False)
            try:
                await pubsub.subscribe(keys.LIVE_CHANNEL)
                confirmations = 0
                async for message in pubsub.listen():
                    if message["type"] == "subscribe":
                        confirmations += 1
                        if gap or confirmations > 1:
                            await self._fill_gap(since_ms=int((heard_at - RESUME_MARGIN_S) * 1000))
                            self.resubscribes += 1
                            log.info("live channel resubscribed; alerts missed meanwhile re-read from the stream")
                        gap = False
                        heard_at = time.time()
                        self.ready.set()
                        backoff = 0.2
                    elif message["type"] == "message":
                        heard_at = time.time()
                        self._receive(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a Redis hiccup must not end live delivery for good
                gap = True
                log.warning("live channel lost; resubscribing", error=str(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _fill_gap(self, *, since_ms: int) -> None:
        """Dispatch the stream's alerts from ``since_ms`` on that this hub has not dispatched yet."""
        alert_log = AlertLog(self._redis)
        cursor = f"{max(since_ms, 0)}-0"
        while True:
            page = await alert_log.since(cursor, limit=REPLAY_PAGE)
            for alert in page:
                self.dispatch(AlertEnvelope(alert=alert))
            if len(page) < REPLAY_PAGE:
                return
            cursor = page[-1].id

    def _receive(self, raw: str | bytes) -> None:
        try:
            envelope = live.parse(raw)
        except ValidationError:  # e.g. a newer process's envelope type: skip it, keep delivering the rest
            log.warning("unreadable live envelope skipped", envelope=str(raw)[:200])
            return
        self.dispatch(envelope)


async def follow_alerts(
    websocket: WebSocket,
    hub: LiveHub,
    alert_log: AlertLog,
    *,
    since: str | None,
    audience: Audience,
) -> None:
    """Send a client what it missed since ``since`` (from the stream), then everything live, without gaps or repeats.

    The client subscribes to the hub *before* reading the stream, so an alert raised during the replay is in
    its queue; a queued alert at or before the last replayed id was in the stream when it was read (stream ids
    only grow), so it was replayed and is skipped. Live alerts after that are all sent: concurrent
    conversations publish out of id order, so a lower id than the last one sent is normal, not a repeat.
    """
    sub = hub.subscribe(audience)
    try:
        last_seen: tuple[int, int] | None = None
        if since is not None:
            cursor = since
            while True:
                page = await alert_log.since(cursor, limit=REPLAY_PAGE)
                for alert in page:
                    envelope = AlertEnvelope(alert=alert)
                    if audience.accepts(envelope):
                        await websocket.send_json(envelope.model_dump(mode="json"))
                if page:
                    cursor = page[-1].id
                if len(page) < REPLAY_PAGE:
                    break
            last_seen = stream_id_key(cursor)
        await _pump(websocket, sub, last_seen)
    finally:
        hub.unsubscribe(sub)


async def _pump(websocket: WebSocket, sub: Subscriber, replayed_to: tuple[int, int] | None) -> None:
    """Forward queued envelopes until the client leaves; watch for its disconnect at the same time.

    ``replayed_to`` is the last stream id the replay covered: only alerts up to it are skipped (sent already)."""

    async def forward() -> None:
        while True:
            envelope = await sub.queue.get()
            if (
                isinstance(envelope, AlertEnvelope)
                and replayed_to is not None
                and stream_id_key(envelope.alert.id) <= replayed_to
            ):
                continue
            await websocket.send_json(envelope.model_dump(mode="json"))
            if sub.overflowed and sub.queue.empty():
                await websocket.close(code=CLOSE_TOO_SLOW, reason="client too slow; reconnect with ?since=")
                return

    async def watch_disconnect() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()  # clients may send pings; anything else is ignored

    tasks = [asyncio.create_task(forward()), asyncio.create_task(watch_disconnect())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            exc = task.exception()
            if exc is not None and not isinstance(exc, WebSocketDisconnect | RuntimeError):
                raise exc
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            if websocket.application_state == WebSocketState.CONNECTED:
                await websocket.close()
