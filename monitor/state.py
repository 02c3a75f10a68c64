"""Conversation state in Redis: metadata, the scored turns, the board of active conversations, and the order in
which the turns of one conversation are committed, whichever service process receives them.

Layout (names in :mod:`monitor.redis_keys`): a hash per conversation with its metadata and its turn counters, a
list of TurnRecord JSON, a list of its alert ids, a hash of each rule's last firing (cooldowns), the cached reply
per message, the queue of its turns in flight, and a sorted set of active conversations scored by risk. Every
per-conversation key carries the conversation id as its hash tag and gets the same TTL, refreshed on each turn,
so abandoned conversations clean themselves up and, on Redis Cluster, all of them live in one slot.

**One turn at a time, in arrival order, across processes.** A turn takes a ticket when it arrives
(:meth:`ConversationStore.arrive`, the conversation's ``ticket`` counter) and may be judged and committed only
once every earlier ticket is ``served``; the conversation's queue holds each ticket's lease deadline (Redis
server time, so process clocks do not matter), which a live process keeps renewing while it waits or scores
(:meth:`ConversationStore.take_turn`). A ticket whose lease runs out (its process died) is skipped by the next
one. The commit is fenced: it is refused unless its ticket is the next one to be served, so a process that
stalled past its lease cannot overwrite what came after it (:class:`TurnLostError`; the pipeline takes a new
ticket). Cooldowns are judged from state read while the turn is held, so no other commit can come between the
read and the write: one turn never raises the same alert twice, and two turns never both pass one cooldown.

**Writes outside the conversation's slot.** The alert stream and the board are global keys in other cluster
slots, so they cannot be in the conversation's script. A turn with alerts therefore commits in two steps: the
fenced commit stores the turn, the firings and a *pending* record naming each alert by a key decided there;
then the alerts are added to the stream by a script in the stream's slot that is idempotent per alert key
(:func:`monitor.redis_keys.alert_once`), and a last script in the conversation's slot stores the alert ids and
the reply and serves the ticket. If the process dies between the steps, the pending record is completed by
whichever turn of the conversation comes next (or by the connector's resend of the same message): the alert is
published once, never twice, never lost. The board is written after the commit by a script that keeps only the
newest turn's risk.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from monitor import redis_keys as keys
from monitor.alerts import AlertDraft, Firing
from monitor.errors import TurnLostError
from monitor.schemas import Alert, ConversationMeta, ConversationStart, Party, ScoredReply, TurnRecord, utcnow

#: A transcript longer than this keeps only its most recent turns (the rules see far fewer).
MAX_STORED_TURNS = 1000

# Shared Lua: the server's clock in ms, and the state a turn is judged against (returned when it holds the turn).
_NOW_MS = """
local clock = redis.call('TIME')
local now_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""
_STATE = """
local function state(t)
  return {'head', t, redis.call('HGET', KEYS[1], 'meta'), redis.call('GET', KEYS[3]),
          redis.call('LRANGE', KEYS[4], -tonumber(ARGV[2]), -1), redis.call('HGETALL', KEYS[5]),
          redis.call('HGET', KEYS[1], 'pending')}
end
"""

# KEYS: meta hash, queue, reply, turns, firings.  ARGV: lease ms, window, TTL.
# A re-sent message that was answered gets its reply; an unknown conversation gets nothing; else a ticket, and
# the state if every earlier ticket is served already (the usual case: no other process holds this conversation).
_ARRIVE = (
    _NOW_MS
    + _STATE
    + """
local done = redis.call('GET', KEYS[3])
if done then return {'reply', done} end
if redis.call('HEXISTS', KEYS[1], 'meta') == 0 then return {'unknown'} end
local t = redis.call('HINCRBY', KEYS[1], 'ticket', 1)
redis.call('ZADD', KEYS[2], now_ms + tonumber(ARGV[1]), t)
redis.call('EXPIRE', KEYS[2], ARGV[3])
if tonumber(redis.call('HGET', KEYS[1], 'served') or '0') == t - 1 then return state(t) end
return {'wait', t}
"""
)

# KEYS: as _ARRIVE.  ARGV: lease ms, window, ticket.
# Renews the ticket's lease; skips earlier tickets whose lease ran out (or that were released); answers 'lost'
# if this ticket itself was skipped, 'wait' while an earlier live ticket is unserved, else the state.
_TAKE = (
    _NOW_MS
    + _STATE
    + """
local t = tonumber(ARGV[3])
local served = tonumber(redis.call('HGET', KEYS[1], 'served') or '0')
while served < t - 1 do
  local head = served + 1
  local due = redis.call('ZSCORE', KEYS[2], head)
  if due and tonumber(due) > now_ms then
    redis.call('ZADD', KEYS[2], 'XX', now_ms + tonumber(ARGV[1]), t)
    return {'wait', t}
  end
  redis.call('ZREM', KEYS[2], head)
  served = head
  redis.call('HSET', KEYS[1], 'served', served)
end
if served >= t then return {'lost', t} end
redis.call('ZADD', KEYS[2], now_ms + tonumber(ARGV[1]), t)
return state(t)
"""
)

# KEYS: meta hash, queue.  ARGV: ticket.  A turn that will not commit gives its place up at once.
_RELEASE = """
local t = tonumber(ARGV[1])
if tonumber(redis.call('HGET', KEYS[1], 'served') or '0') == t - 1 then redis.call('HSET', KEYS[1], 'served', t) end
redis.call('ZREM', KEYS[2], t)
return 1
"""

# KEYS: meta hash, turns, alert ids, firings, reply, queue.
# ARGV: ticket, turn JSON, max stored turns, TTL, reply JSON, pending JSON ('' for none), then (rule, firing JSON)
# pairs. Refused (CWSTALE) unless the ticket is the next to be served and no earlier turn is pending. With no
# pending record the turn is complete here: reply stored, ticket served.
_COMMIT = """
local t = tonumber(ARGV[1])
local served = tonumber(redis.call('HGET', KEYS[1], 'served') or '0')
if served ~= t - 1 or redis.call('HEXISTS', KEYS[1], 'pending') == 1 then
  return redis.error_reply('CWSTALE turn ' .. t .. ' is not the next to commit')
end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1]) end
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[1], 'pending', ARGV[6])
else
  redis.call('SET', KEYS[5], ARGV[5], 'EX', ARGV[4])
  redis.call('HSET', KEYS[1], 'served', t)
  redis.call('ZREM', KEYS[6], t)
end
for k = 1, 4 do redis.call('EXPIRE', KEYS[k], ARGV[4]) end
redis.call('EXPIRE', KEYS[6], ARGV[4])
return 1
"""

# KEYS: alert stream, then one alert_once key per alert.  ARGV: stream maxlen, TTL, then the alert bodies.
# Returns the stream ids, old or new: an alert already added (a retry after a crash) is not added again.
_PUBLISH_ALERTS = """
local ids = {}
for i = 2, #KEYS do
  local id = redis.call('GET', KEYS[i])
  if not id then
    id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'alert', ARGV[i + 1])
    redis.call('SET', KEYS[i], id, 'EX', ARGV[2])
  end
  ids[#ids + 1] = id
end
return ids
"""

# KEYS: meta hash, alert ids, reply, queue.  ARGV: the pending JSON as stored, reply JSON, TTL, then alert ids.
# Completes a pending turn once (whoever gets here first: its process, the next turn, or a resend of it).
_FINALIZE = """
if redis.call('HGET', KEYS[1], 'pending') ~= ARGV[1] then return 0 end
local t = tonumber(cjson.decode(ARGV[1])['ticket'])
for i = 4, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('SET', KEYS[3], ARGV[2], 'EX', ARGV[3])
redis.call('HDEL', KEYS[1], 'pending')
if tonumber(redis.call('HGET', KEYS[1], 'served') or '0') == t - 1 then redis.call('HSET', KEYS[1], 'served', t) end
redis.call('ZREM', KEYS[4], t)
return 1
"""

# KEYS: board, board turns.  ARGV: conversation id, risk, ticket.  Only a conversation on the board (not ended)
# is updated, and only by a turn newer than the last one that wrote its risk.
_BOARD = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
if tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[1], 'XX', ARGV[2], ARGV[1])
return 1
"""


@dataclass(frozen=True)
class BoardEntry:
    """One row of the supervisor board."""

    meta: ConversationMeta
    risk: float
    turn_count: int
    recent: list[TurnRecord]


class PendingAlert(BaseModel):
    """An alert decided by a commit but not yet in the stream: ``key`` makes adding it idempotent."""

    key: str
    body: dict[str, Any]


class PendingTurn(BaseModel):
    """A committed turn whose alerts are still to be added to the stream (see the module docstring)."""

    ticket: int
    message_id: str
    reply: ScoredReply  # without alerts: they get their ids when added to the stream
    alerts: list[PendingAlert]


@dataclass(frozen=True)
class TurnState:
    """What a new turn is judged against, read while it holds its conversation's turn."""

    meta: ConversationMeta | None  # None: the conversation was never started (or has expired)
    reply: ScoredReply | None  # the answer already given to this message id, if it is a re-send
    recent: list[TurnRecord] = field(default_factory=list)  # the last ``window`` stored turns, oldest first
    last_firings: dict[str, Firing] = field(default_factory=dict)  # rule id -> its last firing here
    pending: tuple[str, PendingTurn] | None = None  # an earlier turn to complete first: (stored JSON, parsed)


@dataclass(frozen=True)
class Arrival:
    """What :meth:`ConversationStore.arrive` found: the stored reply (a re-send), an unknown conversation
    (neither set), or a ticket; ``state`` is set when the ticket already holds the turn."""

    reply: ScoredReply | None = None
    ticket: int | None = None
    state: TurnState | None = None


def _turn_state(raw: Sequence[Any]) -> TurnState:
    _, _, raw_meta, raw_reply, raw_turns, raw_firings, raw_pending = raw
    firings = dict(zip(raw_firings[::2], raw_firings[1::2], strict=True))
    return TurnState(
        meta=ConversationMeta.model_validate_json(raw_meta) if raw_meta else None,
        reply=ScoredReply.model_validate_json(raw_reply) if raw_reply else None,
        recent=[TurnRecord.model_validate_json(r) for r in raw_turns],
        last_firings={rule: Firing.model_validate_json(r) for rule, r in firings.items()},
        pending=(raw_pending, PendingTurn.model_validate_json(raw_pending)) if raw_pending else None,
    )


class ConversationStore:
    """Reads and writes conversation state; knows nothing about scoring or rules.

    ``redis`` must decode responses (``decode_responses=True``): every key and value here is text. It may be a
    Redis Cluster client: every script touches the keys of one slot only."""

    def __init__(self, redis: Redis, *, ttl_s: int, window: int, alert_maxlen: int, turn_lease_s: float = 3.0) -> None:
        self._redis = redis
        self._ttl_s = ttl_s
        self.window = window
        self._alert_maxlen = alert_maxlen
        self.turn_lease_s = turn_lease_s
        self._arrive = redis.register_script(_ARRIVE)
        self._take = redis.register_script(_TAKE)
        self._release = redis.register_script(_RELEASE)
        self._commit = redis.register_script(_COMMIT)
        self._publish_alerts = redis.register_script(_PUBLISH_ALERTS)
        self._finalize = redis.register_script(_FINALIZE)
        self._board = redis.register_script(_BOARD)

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
        # Not one MULTI: the board is in another cluster slot. Both writes are idempotent, so a repeated start
        # completes one that died in between.
        await self._redis.expire(key, self._ttl_s)
        if meta.ended_at is None:
            await self._redis.zadd(keys.ACTIVE_CONVERSATIONS, {event.conversation_id: 0.0}, nx=True)
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
            await self._redis.hset(keys.conversation(conversation_id), "meta", meta.model_dump_json())
        await self._off_board(conversation_id)  # also when ended already: completes an end that died half-way
        return meta

    async def reassign(self, conversation_id: str, agent: Party) -> ConversationMeta | None:
        """Record the conversation's new agent (a no-op when it is the current one)."""
        meta = await self.meta(conversation_id)
        if meta is None or meta.agent == agent:
            return meta
        meta = meta.model_copy(update={"agent": agent})
        await self._redis.hset(keys.conversation(conversation_id), "meta", meta.model_dump_json())
        return meta

    async def _off_board(self, conversation_id: str) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrem(keys.ACTIVE_CONVERSATIONS, conversation_id)
            pipe.hdel(keys.BOARD_TURNS, conversation_id)
            await pipe.execute()

    # --- the turn: arrive (ticket), take (wait for the turn, keep the lease), commit, complete, release
    def _turn_keys(self, conversation_id: str, message_id: str) -> list[str]:
        cid = conversation_id
        return [
            keys.conversation(cid),
            keys.turn_queue(cid),
            keys.reply(cid, message_id),
            keys.turns(cid),
            keys.rule_firings(cid),
        ]

    @property
    def _lease_ms(self) -> int:
        return max(int(self.turn_lease_s * 1000), 1)

    async def arrive(self, conversation_id: str, message_id: str) -> Arrival:
        """Take the message's place in its conversation's order (one round trip, and usually the turn too)."""
        raw: list[Any] = await self._arrive(
            keys=self._turn_keys(conversation_id, message_id), args=[self._lease_ms, self.window, self._ttl_s]
        )
        if raw[0] == "reply":
            return Arrival(reply=ScoredReply.model_validate_json(raw[1]))
        if raw[0] == "unknown":
            return Arrival()
        ticket = int(raw[1])
        return Arrival(ticket=ticket, state=_turn_state(raw) if raw[0] == "head" else None)

    async def take_turn(self, conversation_id: str, message_id: str, ticket: int) -> TurnState | None:
        """The state to judge against once every earlier ticket is served, else None; renews the lease either
        way (call it at least every third of the lease while waiting or scoring). Raises
        :class:`TurnLostError` if the ticket was skipped meanwhile."""
        raw: list[Any] = await self._take(
            keys=self._turn_keys(conversation_id, message_id), args=[self._lease_ms, self.window, ticket]
        )
        if raw[0] == "lost":
            raise TurnLostError(f"turn {ticket} of {conversation_id!r} lapsed before it was committed")
        return _turn_state(raw) if raw[0] == "head" else None

    async def release_turn(self, conversation_id: str, ticket: int) -> None:
        """Give the ticket up without committing (the turn failed), so later turns need not wait for its lease."""
        cid = conversation_id
        await self._release(keys=[keys.conversation(cid), keys.turn_queue(cid)], args=[ticket])

    async def commit_turn(
        self, meta: ConversationMeta, turn: TurnRecord, risk: float, drafts: Sequence[AlertDraft], *, ticket: int
    ) -> ScoredReply:
        """Store the turn, the firings and the reply (and through :meth:`complete` the alerts), then the board.

        Fenced by ``ticket``: raises :class:`TurnLostError`, having written nothing, if the ticket is not the next
        to be served. ``xx`` on the board: an ended conversation is not put back on it by a late message."""
        cid = meta.conversation_id
        answer = ScoredReply(message_id=turn.message_id, scores=turn.wire_scores(), alerts=[], risk=risk)
        pending = ""
        if drafts:
            pending = PendingTurn(
                ticket=ticket,
                message_id=turn.message_id,
                reply=answer,
                alerts=[
                    PendingAlert(key=keys.alert_key(cid, turn.message_id, i), body=d.body) for i, d in enumerate(drafts)
                ],
            ).model_dump_json()
        firings = [arg for d in drafts for arg in (d.rule, d.firing.model_dump_json())]
        try:
            await self._commit(
                keys=[
                    keys.conversation(cid),
                    keys.turns(cid),
                    keys.conversation_alerts(cid),
                    keys.rule_firings(cid),
                    keys.reply(cid, turn.message_id),
                    keys.turn_queue(cid),
                ],
                args=[
                    ticket,
                    turn.model_dump_json(),
                    MAX_STORED_TURNS,
                    self._ttl_s,
                    answer.model_dump_json(),
                    pending,
                    *firings,
                ],
            )
        except ResponseError as exc:
            if "CWSTALE" in str(exc):
                raise TurnLostError(str(exc)) from None
            raise
        if pending:
            answer = await self.complete(cid, pending, PendingTurn.model_validate_json(pending))
        await self._board(keys=[keys.ACTIVE_CONVERSATIONS, keys.BOARD_TURNS], args=[cid, risk, ticket])
        return answer

    async def complete(self, conversation_id: str, stored: str, pending: PendingTurn) -> ScoredReply:
        """Add a pending turn's alerts to the stream (once per alert key) and store their ids and the reply.

        Safe to run more than once and from any process: the stream write is idempotent per alert key, and only
        the first completion stores anything. ``stored`` is the pending record exactly as Redis holds it."""
        cid = conversation_id
        ids: list[Any] = await self._publish_alerts(
            keys=[keys.ALERTS_STREAM, *(keys.alert_once(a.key) for a in pending.alerts)],
            args=[self._alert_maxlen, self._ttl_s, *(json.dumps(a.body) for a in pending.alerts)],
        )
        alerts = [Alert.model_validate({"id": str(i), **a.body}) for i, a in zip(ids, pending.alerts, strict=True)]
        reply = pending.reply.model_copy(update={"alerts": alerts})
        await self._finalize(
            keys=[
                keys.conversation(cid),
                keys.conversation_alerts(cid),
                keys.reply(cid, pending.message_id),
                keys.turn_queue(cid),
            ],
            args=[stored, reply.model_dump_json(), self._ttl_s, *(str(i) for i in ids)],
        )
        return reply

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
                await self._off_board(cid)
                continue
            count = await self._redis.llen(keys.turns(cid))
            entries.append(
                BoardEntry(meta=meta, risk=float(risk), turn_count=count, recent=await self.turns(cid, last=recent))
            )
        return entries
