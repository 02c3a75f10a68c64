"""Conversation state in Redis: metadata, the scored turns, the board of active conversations.

Layout (names in :mod:`monitor.redis_keys`): a hash per conversation with its metadata, a list of TurnRecord
JSON, a list of its alert ids, a hash of each rule's last firing (cooldowns), the cached reply per message, and
a sorted set of active conversations scored by risk. Every per-conversation key carries the conversation id as
its hash tag and gets the same TTL, refreshed on each turn, so abandoned conversations clean themselves up.

A turn touches Redis twice: :meth:`ConversationStore.read_turn` reads what the turn needs in one round trip,
and :meth:`ConversationStore.commit_turn` writes everything the turn changes in one Lua script, so no reader
(and no other service process) ever sees a turn stored without its alerts, or alerts without their turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from monitor import redis_keys as keys
from monitor.alerts import AlertDraft, Firing
from monitor.schemas import ConversationMeta, ConversationStart, Party, ScoredReply, TurnRecord, utcnow

#: A transcript longer than this keeps only its most recent turns (the rules see far fewer).
MAX_STORED_TURNS = 1000

# KEYS: meta hash, turns, alert ids, firings, reply, board, alert stream.
# ARGV: turn JSON, max stored turns, TTL, conversation id, risk, reply JSON without "alerts", stream maxlen,
#       then per alert: rule, firing JSON, alert body JSON (the Alert without its id).
# Returns the new alert ids. The cached reply gets the ids spliced in as text, so its numbers are stored
# exactly as Python wrote them (re-encoding in Lua would round them). If the reply is already stored (a
# retry of a commit that succeeded but whose answer was lost with the connection), nothing is written and
# the stored reply is returned instead: committing a turn twice is a no-op, so the client may retry it.
_COMMIT_TURN = """
local done = redis.call('GET', KEYS[5])
if done then return done end
local ids, items = {}, {}
for i = 8, #ARGV, 3 do
  local id = redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[7], '*', 'alert', ARGV[i + 2])
  redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1])
  redis.call('RPUSH', KEYS[3], id)
  ids[#ids + 1] = id
  items[#items + 1] = '{"id":"' .. id .. '",' .. string.sub(ARGV[i + 2], 2)
end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('ZADD', KEYS[6], 'XX', ARGV[5], ARGV[4])
for k = 1, 4 do redis.call('EXPIRE', KEYS[k], ARGV[3]) end
local reply = string.sub(ARGV[6], 1, -2) .. ',"alerts":[' .. table.concat(items, ',') .. ']}'
redis.call('SET', KEYS[5], reply, 'EX', ARGV[3])
return ids
"""


@dataclass(frozen=True)
class BoardEntry:
    """One row of the supervisor board."""

    meta: ConversationMeta
    risk: float
    turn_count: int
    recent: list[TurnRecord]


@dataclass(frozen=True)
class TurnState:
    """What a new turn is judged against, read in one round trip before it is scored."""

    meta: ConversationMeta | None  # None: the conversation was never started (or has expired)
    reply: ScoredReply | None  # the answer already given to this message id, if it is a re-send
    recent: list[TurnRecord] = field(default_factory=list)  # the last ``window`` stored turns, oldest first
    last_firings: dict[str, Firing] = field(default_factory=dict)  # rule id -> its last firing here


class ConversationStore:
    """Reads and writes conversation state; knows nothing about scoring or rules.

    ``redis`` must decode responses (``decode_responses=True``): every key and value here is text."""

    def __init__(self, redis: Redis, *, ttl_s: int, window: int, alert_maxlen: int) -> None:
        self._redis = redis
        self._ttl_s = ttl_s
        self.window = window
        self._alert_maxlen = alert_maxlen
        self._commit = redis.register_script(_COMMIT_TURN)

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

    async def reassign(self, conversation_id: str, agent: Party) -> ConversationMeta | None:
        """Record the conversation's new agent (a no-op when it is the current one)."""
        meta = await self.meta(conversation_id)
        if meta is None or meta.agent == agent:
            return meta
        meta = meta.model_copy(update={"agent": agent})
        await self._redis.hset(keys.conversation(conversation_id), "meta", meta.model_dump_json())
        return meta

    async def read_turn(self, conversation_id: str, message_id: str) -> TurnState:
        """Everything a new turn needs: metadata, a reply already given, the window's turns, the last firings."""
        cid = conversation_id
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.conversation(cid), "meta")
            pipe.get(keys.reply(cid, message_id))
            pipe.lrange(keys.turns(cid), -self.window, -1)
            pipe.hgetall(keys.rule_firings(cid))
            raw_meta, raw_reply, raw_turns, raw_firings = await pipe.execute()
        return TurnState(
            meta=ConversationMeta.model_validate_json(raw_meta) if raw_meta else None,
            reply=ScoredReply.model_validate_json(raw_reply) if raw_reply else None,
            recent=[TurnRecord.model_validate_json(raw) for raw in raw_turns],
            last_firings={rule: Firing.model_validate_json(raw) for rule, raw in raw_firings.items()},
        )

    async def commit_turn(
        self, meta: ConversationMeta, turn: TurnRecord, risk: float, drafts: Sequence[AlertDraft]
    ) -> ScoredReply:
        """Store the turn, the board's risk, the alerts (stream, ids, firings) and the reply, all at once.

        ``xx`` on the board: an ended conversation is not put back on it by a late message."""
        cid = meta.conversation_id
        answer = ScoredReply(message_id=turn.message_id, scores=turn.wire_scores(), alerts=[], risk=risk)
        per_alert = [arg for d in drafts for arg in (d.rule, d.firing.model_dump_json(), d.body_json())]
        result: list[str] | str = await self._commit(
            keys=[
                keys.conversation(cid),
                keys.turns(cid),
                keys.conversation_alerts(cid),
                keys.rule_firings(cid),
                keys.reply(cid, turn.message_id),
                keys.ACTIVE_CONVERSATIONS,
                keys.ALERTS_STREAM,
            ],
            args=[
                turn.model_dump_json(),
                MAX_STORED_TURNS,
                self._ttl_s,
                cid,
                risk,
                answer.model_dump_json(exclude={"alerts"}),
                self._alert_maxlen,
                *per_alert,
            ],
        )
        if isinstance(result, str):  # committed already: this is a retry, answer what was stored then
            return ScoredReply.model_validate_json(result)
        alerts = [draft.with_id(alert_id) for draft, alert_id in zip(drafts, result, strict=True)]
        return answer.model_copy(update={"alerts": alerts})

    async def risk(self, conversation_id: str) -> float | None:
        value = await self._redis.zscore(keys.ACTIVE_CONVERSATIONS, conversation_id)
        return float(value) if value is not None else None

    async def turns(self, conversation_id: str, *, last: int | None = None) -> list[TurnRecord]:
        start = -last if last else 0
        raws = await self._redis.lrange(keys.turns(conversation_id), start, -1)
        return [TurnRecord.model_validate_json(raw) for raw in raws]

    async def alert_ids(self, conversation_id: str) -> list[str]:
        ids: list[Any] = await self._redis.lrange(keys.conversation_alerts(conversation_id), 0, -1)
        return [str(alert_id) for alert_id in ids]

    async def board(self, *, limit: int = 100, recent: int = 20) -> list[BoardEntry]:
        """Active conversations, riskiest first. Expired ones are pruned from the set as they are met."""
        ranked: list[Any] = await self._redis.zrevrange(keys.ACTIVE_CONVERSATIONS, 0, limit - 1, withscores=True)
        entries: list[BoardEntry] = []
        for cid, risk in ranked:
            meta = await self.meta(cid)
            if meta is None:
                await self._redis.zrem(keys.ACTIVE_CONVERSATIONS, cid)
                continue
            count = await self._redis.llen(keys.turns(cid))
            entries.append(
                BoardEntry(meta=meta, risk=float(risk), turn_count=count, recent=await self.turns(cid, last=recent))
            )
        return entries
