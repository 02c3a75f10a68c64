"""Conversation state in Redis: metadata, the scored turns, the board of active conversations.

Layout (names in :mod:`monitor.keys`): a hash per conversation with its metadata, a list of TurnRecord JSON,
a list of its alert ids, and a sorted set of active conversations scored by risk. Every per-conversation key
gets the same TTL, refreshed on each turn, so abandoned conversations clean themselves up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from monitor import redis_keys as keys
from monitor.schemas import ConversationMeta, ConversationSnapshot, ConversationStart, TurnRecord, utcnow

#: A transcript longer than this keeps only its most recent turns (the rules see far fewer).
MAX_STORED_TURNS = 1000


@dataclass(frozen=True)
class BoardEntry:
    """One row of the supervisor board."""

    meta: ConversationMeta
    risk: float
    turn_count: int
    recent: list[TurnRecord]


class ConversationStore:
    """Reads and writes conversation state; knows nothing about scoring or rules."""

    def __init__(self, redis: Redis, *, ttl_s: int, window: int) -> None:
        self._redis = redis
        self._ttl_s = ttl_s
        self._window = window

    async def start(self, event: ConversationStart) -> tuple[ConversationMeta, bool]:
        """Create the conversation; starting it again is idempotent and returns ``created=False``."""
        meta = ConversationMeta(
            conversation_id=event.conversation_id,
            customer=event.customer,
            agent=event.agent,
            channel=event.channel,
            started_at=utcnow(),
        )
        key = keys.conversation(event.conversation_id)
        created = bool(await self._redis.hsetnx(key, "meta", meta.model_dump_json()))
        if not created:
            existing = await self.meta(event.conversation_id)
            assert existing is not None
            meta = existing
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.expire(key, self._ttl_s)
            if meta.ended_at is None:
                pipe.zadd(keys.ACTIVE_CONVERSATIONS, {event.conversation_id: 0.0}, nx=True)
            await pipe.execute()
        return meta, created

    async def meta(self, conversation_id: str) -> ConversationMeta | None:
        raw = await self._redis.hget(keys.conversation(conversation_id), "meta")
        return ConversationMeta.model_validate_json(raw) if raw else None

    async def end(self, conversation_id: str) -> ConversationMeta | None:
        """Mark the conversation ended and take it off the board; its history stays until the TTL."""
        meta = await self.meta(conversation_id)
        if meta is None:
            return None
        if meta.ended_at is None:
            meta = meta.model_copy(update={"ended_at": utcnow()})
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(keys.conversation(conversation_id), "meta", meta.model_dump_json())
                pipe.zrem(keys.ACTIVE_CONVERSATIONS, conversation_id)
                await pipe.execute()
        return meta

    async def append_turn(self, meta: ConversationMeta, turn: TurnRecord) -> ConversationSnapshot:
        """Store the turn and return what the rules need: the metadata and the last ``window`` turns."""
        cid = meta.conversation_id
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(keys.turns(cid), turn.model_dump_json())
            pipe.ltrim(keys.turns(cid), -MAX_STORED_TURNS, -1)
            pipe.lrange(keys.turns(cid), -self._window, -1)
            for key in keys.conversation_keys(cid):
                pipe.expire(key, self._ttl_s)
            results = await pipe.execute()
        recent = [TurnRecord.model_validate_json(raw) for raw in results[2]]
        return ConversationSnapshot(meta=meta, turns=recent)

    async def record_turn_outcome(self, meta: ConversationMeta, turn: TurnRecord, risk: float) -> None:
        """Update the board's risk and announce the scored turn to live consoles (sparklines, ranking)."""
        envelope = {
            "type": "turn",
            "conversation_id": meta.conversation_id,
            "agent_id": meta.agent.id,
            "message_id": turn.message_id,
            "role": turn.role,
            "sent_at": turn.sent_at.isoformat(),
            "scores": turn.scores.wire().model_dump(),
            "risk": risk,
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            # xx: an ended conversation is not put back on the board by a late message.
            pipe.zadd(keys.ACTIVE_CONVERSATIONS, {meta.conversation_id: risk}, xx=True)
            pipe.publish(keys.LIVE_CHANNEL, json.dumps(envelope))
            await pipe.execute()

    async def risk(self, conversation_id: str) -> float | None:
        value = await self._redis.zscore(keys.ACTIVE_CONVERSATIONS, conversation_id)
        return float(value) if value is not None else None

    async def turns(self, conversation_id: str, *, last: int | None = None) -> list[TurnRecord]:
        start = -last if last else 0
        raws = await self._redis.lrange(keys.turns(conversation_id), start, -1)
        return [TurnRecord.model_validate_json(raw) for raw in raws]

    async def alert_ids(self, conversation_id: str) -> list[str]:
        raws = await self._redis.lrange(keys.conversation_alerts(conversation_id), 0, -1)
        return [raw.decode() if isinstance(raw, bytes) else raw for raw in raws]

    async def board(self, *, limit: int = 100, recent: int = 20) -> list[BoardEntry]:
        """Active conversations, riskiest first. Expired ones are pruned from the set as they are met."""
        ranked: list[Any] = await self._redis.zrevrange(keys.ACTIVE_CONVERSATIONS, 0, limit - 1, withscores=True)
        entries: list[BoardEntry] = []
        for raw_id, risk in ranked:
            cid = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
            meta = await self.meta(cid)
            if meta is None:
                await self._redis.zrem(keys.ACTIVE_CONVERSATIONS, cid)
                continue
            count = await self._redis.llen(keys.turns(cid))
            entries.append(
                BoardEntry(meta=meta, risk=float(risk), turn_count=count, recent=await self.turns(cid, last=recent))
            )
        return entries

    async def cached_reply(self, conversation_id: str, message_id: str) -> dict[str, object] | None:
        raw = await self._redis.get(keys.reply(conversation_id, message_id))
        return json.loads(raw) if raw else None

    async def cache_reply(self, conversation_id: str, message_id: str, reply: dict[str, object]) -> None:
        await self._redis.set(keys.reply(conversation_id, message_id), json.dumps(reply), ex=self._ttl_s)
