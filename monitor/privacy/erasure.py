"""Erasure: a conversation's text, state and alert texts removed from Redis on request, and the request audited.

Erasing a conversation removes every key of it (metadata, turns, alert ids, cooldowns, cached replies: every
key under its :func:`~monitor.redis_keys.conversation` prefix, so keys added later go too), takes it off the
board, and takes its alerts out of the alert stream. Stream entries cannot be edited, so each alert is deleted
(XDEL) and a skeleton without text or conversation id is kept in ``cw:alerts:erased`` (rule, severity, audience,
agent, time): reports still count it. Webhook deliveries of those alerts (their bodies, attempts and queue
entries) are deleted too, so a retry cannot send the text after the erasure. Acknowledgements of the alerts go.

Every erasure is recorded in the audit stream ``cw:audit``: who asked (the API key id, or the operating-system
user of ``calmwatch erase``), when, what (the conversation, or the customer and their conversations) and how
much was removed. The audit record keeps the ids, which is what proves the erasure happened; it holds no text.

Deleted keys stay in Redis's append-only file until it is rewritten, so after each erasure the server is asked
to rewrite it (``BGREWRITEAOF``) when it keeps one; a server that refuses (a managed Redis without the
command) is logged, and its operator has to see to it. Backups and RDB snapshots taken before keep the data
until they are rotated.

The steps are each idempotent and ordered so that a run that dies half-way can simply be repeated: alerts
first (their ids are read from the conversation's alert list), the conversation's keys last. A turn of the
conversation still being processed while it is erased may write its turn after the erasure; end the
conversation first, or erase again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import structlog
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from monitor import redis_keys as keys
from monitor.delivery.webhooks.models import FEEDBACK_EVENT, delivery_id_for
from monitor.schemas import ConversationMeta, utcnow

log = structlog.get_logger("erasure")

#: Alert stream entries read per round trip when looking for the alerts of a conversation whose state expired.
STREAM_PAGE = 1000
_EVENT_TYPES = ("alert.raised", "conversation.escalated")  # what an alert can be delivered as


class ErasedAlert(BaseModel):
    """What remains of an erased alert: enough to count it in reports, nothing to tell whose it was."""

    id: str
    rule: str
    severity: str
    audience: list[str]
    agent_id: str
    created_at: datetime
    erased_at: datetime


class Erasure(BaseModel):
    """What one erasure removed; ``found`` is false when there was nothing of the conversation left."""

    conversation_id: str
    keys: int  # per-conversation keys deleted (metadata, turns, alert ids, cooldowns, cached replies)
    turns: int
    alerts: int
    webhook_deliveries: int

    @property
    def found(self) -> bool:
        return bool(self.keys or self.alerts)


class AuditEvent(BaseModel):
    """One entry of the audit stream."""

    id: str = ""  # its stream id, once written
    action: Literal["erase.conversation", "erase.customer"]
    target: str  # the conversation id, or the customer id
    by: str
    at: datetime
    conversations: list[Erasure]


@dataclass
class _Found:
    alert_ids: list[str] = field(default_factory=list)
    turns: int = 0


class Eraser:
    """Erases conversations and customers on one Redis; ``redis`` must decode responses."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def erase_conversation(self, conversation_id: str, *, by: str) -> Erasure:
        """Erase one conversation and audit it (also when nothing was found: the request is on record)."""
        erasure = await self._erase(conversation_id)
        await self._audit("erase.conversation", conversation_id, by, [erasure])
        await self._rewrite_aof()
        return erasure

    async def erase_customer(self, customer_id: str, *, by: str) -> list[Erasure]:
        """Erase every stored conversation of the customer (by ``customer.id`` in its metadata), audited once."""
        erasures = [await self._erase(cid) for cid in await self.conversations_of(customer_id)]
        await self._audit("erase.customer", customer_id, by, erasures)
        await self._rewrite_aof()
        return erasures

    async def conversations_of(self, customer_id: str) -> list[str]:
        """Ids of the stored conversations whose customer is ``customer_id`` (SCAN over conversation metadata:
        erasure is rare, and no index has to be kept in step with every conversation start)."""
        found: list[str] = []
        async for key in self._redis.scan_iter(match=keys.CONVERSATIONS_MATCH, count=1000):
            cid = keys.conversation_id_of(key)
            if cid is None:
                continue
            raw = await self._redis.hget(key, "meta")
            if raw and ConversationMeta.model_validate_json(raw).customer.id == customer_id:
                found.append(cid)
        return sorted(found)

    async def audit(self, *, limit: int = 100) -> list[AuditEvent]:
        """The latest audit events, newest first."""
        entries: list[Any] = await self._redis.xrevrange(keys.AUDIT_STREAM, count=limit) or []
        return [AuditEvent.model_validate({**json.loads(fields["event"]), "id": eid}) for eid, fields in entries]

    async def _erase(self, conversation_id: str) -> Erasure:
        found = await self._find(conversation_id)
        alerts, deliveries = await self._erase_alerts(found.alert_ids)
        conversation_keys = [key async for key in self._redis.scan_iter(match=keys.conversation_match(conversation_id))]
        alert_once = [key async for key in self._redis.scan_iter(match=keys.alert_once_match(conversation_id))]
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in [*conversation_keys, *alert_once]:
                pipe.unlink(key)
            pipe.zrem(keys.ACTIVE_CONVERSATIONS, conversation_id)
            pipe.hdel(keys.BOARD_TURNS, conversation_id)
            await pipe.execute()
        return Erasure(
            conversation_id=conversation_id,
            keys=len(conversation_keys),
            turns=found.turns,
            alerts=alerts,
            webhook_deliveries=deliveries,
        )

    async def _find(self, conversation_id: str) -> _Found:
        """The conversation's alert ids (its own list while its state lives, else a search of the stream)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.exists(keys.conversation(conversation_id))
            pipe.lrange(keys.conversation_alerts(conversation_id), 0, -1)
            pipe.llen(keys.turns(conversation_id))
            exists, alert_ids, turns = await pipe.execute()
        if exists or alert_ids:
            return _Found(alert_ids=list(alert_ids), turns=int(turns))
        return _Found(alert_ids=await self._search_stream(conversation_id), turns=int(turns))

    async def _search_stream(self, conversation_id: str) -> list[str]:
        found: list[str] = []
        start = "-"
        while True:
            entries: list[Any] = await self._redis.xrange(keys.ALERTS_STREAM, min=start, count=STREAM_PAGE) or []
            for entry_id, fields in entries:
                raw = fields.get("alert")
                if raw and json.loads(raw).get("conversation_id") == conversation_id:
                    found.append(entry_id)
            if len(entries) < STREAM_PAGE:
                return found
            start = f"({entries[-1][0]}"

    async def _erase_alerts(self, alert_ids: Sequence[str]) -> tuple[int, int]:
        """XDEL the alerts, keeping a skeleton of each; delete their webhook deliveries. Returns both counts."""
        if not alert_ids:
            return 0, 0
        async with self._redis.pipeline(transaction=False) as pipe:
            for alert_id in alert_ids:
                pipe.xrange(keys.ALERTS_STREAM, min=alert_id, max=alert_id, count=1)
            results = await pipe.execute()
        now = utcnow()
        skeletons: dict[Any, Any] = {}
        for alert_id, found in zip(alert_ids, results, strict=True):
            if not found:
                continue  # trimmed from the stream already, or erased by an earlier run
            body = json.loads(found[0][1]["alert"])
            skeleton = ErasedAlert(id=alert_id, rule=body["rule"], severity=body["severity"],
                                   audience=body["audience"], agent_id=body["agent_id"],
                                   created_at=body["created_at"], erased_at=now)  # fmt: skip
            skeletons[alert_id] = skeleton.model_dump_json()
        feedback_entries = await self._feedback_entries(set(alert_ids))
        deliveries = await self._erase_deliveries(alert_ids, feedback_entries)
        async with self._redis.pipeline(transaction=False) as pipe:
            if skeletons:
                pipe.hset(keys.ERASED_ALERTS, mapping=skeletons)
            pipe.xdel(keys.ALERTS_STREAM, *alert_ids)
            pipe.hdel(keys.ALERT_ACKS, *alert_ids)
            # Feedback notes are free text about the chat: the verdicts go with their alerts.
            pipe.hdel(keys.ALERT_FEEDBACK, *alert_ids)
            if feedback_entries:
                pipe.xdel(keys.FEEDBACK_STREAM, *feedback_entries)
            await pipe.execute()
        return len(skeletons), deliveries

    async def _feedback_entries(self, alert_ids: set[str]) -> list[str]:
        """Ids of the feedback log's entries about these alerts (the log is capped, so a scan is bounded)."""
        found: list[str] = []
        start = "-"
        while True:
            entries: list[Any] = await self._redis.xrange(keys.FEEDBACK_STREAM, min=start, count=STREAM_PAGE) or []
            for entry_id, fields in entries:
                raw = fields.get("feedback")
                if raw and json.loads(raw).get("alert_id") in alert_ids:
                    found.append(entry_id)
            if len(entries) < STREAM_PAGE:
                return found
            start = f"({entries[-1][0]}"

    async def _erase_deliveries(self, alert_ids: Sequence[str], feedback_entries: Sequence[str] = ()) -> int:
        endpoint_ids: list[Any] = await self._redis.hkeys(keys.WEBHOOKS)
        delivery_ids = [delivery_id_for(event, alert_id) for alert_id in alert_ids for event in _EVENT_TYPES]
        # An alert.feedback delivery carries the alert's body too; it is keyed by the feedback log entry.
        delivery_ids += [delivery_id_for(FEEDBACK_EVENT, entry_id) for entry_id in feedback_entries]
        async with self._redis.pipeline(transaction=False) as pipe:
            for endpoint_id in endpoint_ids:
                for delivery_id in delivery_ids:
                    pipe.unlink(keys.webhook_delivery(endpoint_id, delivery_id))
                    pipe.unlink(keys.webhook_attempts(endpoint_id, delivery_id))
                pipe.zrem(keys.webhook_due(endpoint_id), *delivery_ids)
                pipe.zrem(keys.webhook_deliveries(endpoint_id), *delivery_ids)
            results = await pipe.execute()
        per_endpoint = 2 * len(delivery_ids) + 2
        return sum(
            results[i * per_endpoint + 2 * n] for i in range(len(endpoint_ids)) for n in range(len(delivery_ids))
        )

    async def _rewrite_aof(self) -> None:
        """Have the server rewrite its append-only file, which still holds the deleted values until then."""
        try:
            config: dict[Any, Any] = await self._redis.config_get("appendonly")
            if config.get("appendonly") == "yes":
                await self._redis.bgrewriteaof()
        except ResponseError as exc:  # CONFIG or BGREWRITEAOF refused, or a rewrite already running
            log.warning("could not have Redis rewrite its append-only file after an erasure", error=str(exc))

    async def _audit(self, action: str, target: str, by: str, erasures: list[Erasure]) -> None:
        event = AuditEvent.model_validate(
            {"action": action, "target": target, "by": by, "at": utcnow(), "conversations": erasures}
        )
        await self._redis.xadd(keys.AUDIT_STREAM, {"event": event.model_dump_json(exclude={"id"})})


async def erased_alerts(redis: Redis) -> list[ErasedAlert]:
    """Every erased alert's skeleton, oldest first: what a report adds to the stream's alerts to count them all."""
    raws: dict[Any, Any] = await redis.hgetall(keys.ERASED_ALERTS)
    skeletons = [ErasedAlert.model_validate_json(raw) for raw in raws.values()]
    return sorted(skeletons, key=lambda a: a.created_at)
