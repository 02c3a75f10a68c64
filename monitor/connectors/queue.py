"""Acknowledge first, score after: connector events go through a Redis Stream between the webhook and the pipeline.

Platforms give a webhook 3-5 s before they call it failed, and a turn's scoring can take longer under load, so
the route only checks the signature, drops re-deliveries (a ``SET NX`` key per delivery with a TTL) and appends
the delivery's events to ``cw:connector-events``; it answers 200 as soon as that XADD returns. A background
:class:`ConnectorWorker` in every service process reads the stream through one consumer group and feeds the
same :class:`monitor.pipeline.Pipeline` the REST and websocket API use. Deliveries of one conversation are
applied in stream order; different conversations run concurrently, so the micro-batcher still gets batches.

Nothing acknowledged is lost: an entry is XACKed only once its events are processed. A crash leaves it pending,
and it is processed again (by this process after a restart, or claimed by another after ``CLAIM_IDLE_MS``);
the pipeline answers a re-sent message id with its first answer, so that is harmless. An entry whose data the
pipeline refuses (an :class:`IngestError` other than overload) goes to ``cw:connector-dead`` with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from monitor import redis_keys
from monitor.connectors.base import ConnectorEvent, Delivery
from monitor.errors import IngestError, OverloadedError, UnknownConversationError
from monitor.ingest import ConversationEnd
from monitor.pipeline import Pipeline
from monitor.schemas import AgentReassignment, ChatMessage, ConversationStart

log = structlog.get_logger("connectors")

_TYPES: dict[str, type[BaseModel]] = {
    "conversation.start": ConversationStart,
    "message": ChatMessage,
    "conversation.end": ConversationEnd,
    "agent.reassign": AgentReassignment,
}
_TAGS = {model: tag for tag, model in _TYPES.items()}
#: Entries read at once, an entry left by a vanished consumer is claimed after this long, a failed one retried.
READ_BATCH = 100
CLAIM_IDLE_MS = 60_000
RETRY_S = 1.0
#: How long a read waits for new entries. The loops are stopped (``stopping``) rather than cancelled, so
#: shutdown waits up to this long: cancelling a task inside a redis-py command (redis-py 8.1, when it lands while
#: the command's connection is being set up) can swallow the cancellation and hang the shutdown for good.
BLOCK_MS = 500
DEAD_MAXLEN = 10_000


async def pause(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stopping`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)


async def ensure_group(redis: Redis, stream: str, group: str, *, start_id: str) -> None:
    """Create the consumer group (and the stream) unless it exists already."""
    with contextlib.suppress(ResponseError):  # BUSYGROUP
        await redis.xgroup_create(stream, group, id=start_id, mkstream=True)


async def claim_abandoned(redis: Redis, stream: str, group: str, consumer: str) -> list[Any]:
    """Entries another consumer of ``group`` read but left unacknowledged for ``CLAIM_IDLE_MS`` (it died), now
    this consumer's; the first ``READ_BATCH`` of them."""
    result: Any = await redis.xautoclaim(stream, group, consumer, CLAIM_IDLE_MS, start_id="0-0", count=READ_BATCH)
    return [e for e in result[1] if e and e[1]]


def encode_events(events: Sequence[ConnectorEvent]) -> str:
    return json.dumps([{"type": _TAGS[type(e)], **e.model_dump(mode="json")} for e in events])


def decode_events(raw: str) -> list[ConnectorEvent]:
    out: list[ConnectorEvent] = []
    for item in json.loads(raw):
        model = _TYPES[item.pop("type")]
        out.append(model.model_validate(item))  # type: ignore[arg-type]
    return out


@dataclass
class Accepted:
    """What a webhook request turned into: the answer's body."""

    queued: int = 0
    duplicates: int = 0
    ignored: list[str] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {"queued": self.queued, "duplicates": self.duplicates, "ignored": self.ignored}


class ConnectorQueue:
    """The webhook side: dedupe and enqueue, nothing slower."""

    def __init__(self, redis: Redis, *, dedupe_ttl_s: int, maxlen: int) -> None:
        self._redis = redis
        self._ttl_s = dedupe_ttl_s
        self._maxlen = maxlen

    async def claim(self, platform: str, key: str) -> bool:
        """True the first time ``key`` is seen within the TTL (so the caller queues it), False for a repeat."""
        return bool(await self._redis.set(redis_keys.connector_seen(platform, key), "1", nx=True, ex=self._ttl_s))

    async def release(self, platform: str, key: str) -> None:
        await self._redis.delete(redis_keys.connector_seen(platform, key))

    async def accept(self, platform: str, deliveries: Sequence[Delivery]) -> Accepted:
        result = Accepted()
        for delivery in deliveries:
            if not delivery.events:
                result.ignored.append(delivery.ignored or "nothing to score")
                log.debug("connector event ignored", platform=platform, key=delivery.key, reason=delivery.ignored)
                continue
            if not await self.claim(platform, delivery.key):
                result.duplicates += 1
                continue
            try:
                await self.enqueue(platform, delivery)
            except BaseException:
                # not queued: forget it was seen, so the platform's retry (or reconciliation) can bring it again
                with contextlib.suppress(Exception):
                    await self.release(platform, delivery.key)
                raise
            result.queued += 1
        return result

    async def enqueue(self, platform: str, delivery: Delivery) -> None:
        await self._redis.xadd(
            redis_keys.CONNECTOR_EVENTS,
            {"platform": platform, "key": delivery.key, "events": encode_events(delivery.events)},
            maxlen=self._maxlen,
            approximate=True,
        )


class ConnectorWorker:
    """The scoring side: stream -> pipeline, until cancelled."""

    def __init__(self, redis: Redis, pipeline: Pipeline) -> None:
        self._redis = redis
        self._pipeline = pipeline
        self._consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"
        self.processed = 0  # entries done (tests wait on it)
        self.stopping = asyncio.Event()  # set at shutdown: the loop ends after the entries in hand

    async def start(self) -> None:
        # from the stream's start: entries queued before the first worker ever ran are not skipped
        await ensure_group(self._redis, redis_keys.CONNECTOR_EVENTS, redis_keys.CONNECTOR_GROUP, start_id="0")

    async def run(self) -> None:
        pending = False  # entries this consumer read but did not finish: retried first, in stream order
        next_claim = 0.0
        while not self.stopping.is_set():
            try:
                failed = False
                while pending and not failed:
                    entries = await self._read("0", block=None)
                    pending = bool(entries)
                    failed = await self.apply_entries(entries)
                if not failed and time.monotonic() >= next_claim:
                    failed = await self._claim_abandoned()
                    next_claim = time.monotonic() + CLAIM_IDLE_MS / 2000
                if not failed:
                    failed = await self.apply_entries(await self._read(">", block=BLOCK_MS))
                if failed:
                    pending = True
                    await pause(self.stopping, RETRY_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                    await self.start()
                    continue
                log.warning("connector worker failed; retrying", error=str(exc), retry_in_s=RETRY_S)
                pending = True
                await pause(self.stopping, RETRY_S)

    async def apply_queued(self) -> bool:
        """Read what is queued and apply it once, without blocking (one round of :meth:`run`; tests);
        True when an entry must be retried."""
        return await self.apply_entries(await self._read(">", block=None))

    async def _read(self, start: str, *, block: int | None) -> list[Any]:
        response: Any = await self._redis.xreadgroup(
            redis_keys.CONNECTOR_GROUP,
            self._consumer,
            {redis_keys.CONNECTOR_EVENTS: start},
            count=READ_BATCH,
            block=block,
        )
        return [e for _stream, items in response or [] for e in items if e[1]]

    async def _claim_abandoned(self) -> bool:
        entries = await claim_abandoned(
            self._redis, redis_keys.CONNECTOR_EVENTS, redis_keys.CONNECTOR_GROUP, self._consumer
        )
        return await self.apply_entries(entries) if entries else False

    async def apply_entries(self, entries: Sequence[Any]) -> bool:
        """Apply entries (each conversation's in order, conversations concurrently); True if any must be retried."""
        by_conversation: dict[str, list[tuple[str, dict[str, str]]]] = defaultdict(list)
        for entry_id, fields in entries:
            by_conversation[_conversation_of(fields)].append((entry_id, fields))
        outcomes = await asyncio.gather(*(self._apply_in_order(group) for group in by_conversation.values()))
        return any(outcomes)

    async def _apply_in_order(self, group: list[tuple[str, dict[str, str]]]) -> bool:
        for entry_id, fields in group:
            if not await self._apply(entry_id, fields):  # later entries of this conversation wait, to keep the order
                return True
        return False

    async def _apply(self, entry_id: str, fields: dict[str, str]) -> bool:
        platform = fields.get("platform", "?")
        try:
            for event in decode_events(fields.get("events", "[]")):
                await self.apply(event)
        except OverloadedError:
            log.warning("scoring queue full; connector entry retried shortly", platform=platform, entry=entry_id)
            return False
        except (IngestError, ValueError, KeyError) as exc:
            dead: dict[Any, Any] = {**fields, "error": str(exc), "entry": entry_id}
            await self._redis.xadd(
                redis_keys.CONNECTOR_DEAD,
                dead,
                maxlen=DEAD_MAXLEN,
                approximate=True,
            )
            log.error("connector entry refused; kept in the dead-letter stream", platform=platform, error=str(exc))
        except Exception as exc:  # Redis trouble, a bug: keep it pending and try again
            log.warning("connector entry failed; retried shortly", platform=platform, entry=entry_id, error=str(exc))
            return False
        # Acknowledged and deleted: the entry holds the platform's unredacted text, which must not outlive its
        # processing (docs/privacy.md); the stored turn is the redacted one.
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(redis_keys.CONNECTOR_EVENTS, redis_keys.CONNECTOR_GROUP, entry_id)
            pipe.xdel(redis_keys.CONNECTOR_EVENTS, entry_id)
            await pipe.execute()
        self.processed += 1
        return True

    async def apply(self, event: ConnectorEvent) -> None:
        """One event through the pipeline, as the REST routes would apply it."""
        if isinstance(event, ConversationStart):
            await self._pipeline.start_conversation(event)
        elif isinstance(event, ChatMessage):
            await self._pipeline.handle_message(event)
        elif isinstance(event, AgentReassignment):
            await self._pipeline.reassign_agent(event)
        else:
            try:
                await self._pipeline.end_conversation(event)
            except UnknownConversationError:
                log.info("end of a conversation Calmwatch never saw", conversation_id=event.conversation_id)


def _conversation_of(fields: dict[str, str]) -> str:
    try:
        first = json.loads(fields.get("events", "[]"))[0]
        return str(first.get("conversation_id", ""))
    except (ValueError, IndexError, AttributeError):
        return ""
