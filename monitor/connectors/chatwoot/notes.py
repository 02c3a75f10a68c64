"""Nudges back into Chatwoot: alerts at or above ``chatwoot_note_min_severity`` become private notes on the
conversation, queued and retried like webhook deliveries, rate-limited per conversation, never re-ingested.

1. Fan-out reads the alert stream through its own consumer group (``chatwoot-notes``); for each alert of a
   ``chatwoot:`` conversation it writes the note's state (``SET NX``: one note per alert id, however often the
   alert is re-read) and puts it on the due set *before* XACKing the alert, so a crash loses nothing.
2. The sender claims due notes (a Lua script moves them to a lease time, so a crash mid-attempt makes them due
   again) and posts them through the Chatwoot API. A conversation gets at most one note per
   ``chatwoot_note_interval_s``: a later one waits for its slot (reserved atomically, so several service
   processes share it) instead of being dropped. Failures are retried on ``webhook_retry_schedule_s`` with the
   same jitter as webhooks (:func:`monitor.delivery.webhooks.next_attempt_at`); a 4xx other than 429 fails
   at once, since repeating it cannot help.
3. Exactly one note per alert: every note ends with its alert id, and before a retry the conversation's
   recent messages are searched for it, so an attempt that reached Chatwoot but lost its answer is not posted
   twice. A posted note's Chatwoot message id is marked seen for the connector's dedupe, so its
   ``message_created`` webhook (and reconciliation) never ingest it as a turn; being private, it would be
   ignored anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import time
from typing import Any

import structlog
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from monitor import redis_keys
from monitor.background import run_loops
from monitor.connectors.chatwoot.api import ChatwootApi
from monitor.connectors.chatwoot.inbound import NAME, message_key, split_conversation_id
from monitor.connectors.queue import BLOCK_MS, CLAIM_IDLE_MS, claim_abandoned, ensure_group, pause
from monitor.delivery.webhooks import next_attempt_at
from monitor.errors import PlatformApiError
from monitor.schemas import SEVERITY_RANK, Alert
from monitor.settings import Settings

log = structlog.get_logger("connectors.chatwoot")

NOTE_TTL_S = 7 * 24 * 3600
CLAIM_BATCH = 20
LEASE_S = 60.0

# KEYS: due set. ARGV: now, lease until, count. Due notes move to the lease time and are returned.
_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
"""
# KEYS: the conversation's last-note key. ARGV: now, interval, ttl. Returns 0 when the slot is taken now, or
# the time the next slot opens.
_RESERVE = """
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local next_slot = last + tonumber(ARGV[2])
if last > 0 and tonumber(ARGV[1]) < next_slot then return tostring(next_slot) end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 0
"""


class Note(BaseModel):
    """The state of one note; its id is the alert id."""

    alert: Alert
    status: str = "pending"  # pending | posted | failed
    attempts: int = 0
    retries_used: int = 0
    last_error: str | None = None
    chatwoot_message_id: str | None = None


def wants_note(alert: Alert, min_severity: str) -> bool:
    """A nudge (its audience includes agents: every agent of the inbox reads a note) of a Chatwoot conversation,
    at or above the configured severity."""
    return (
        split_conversation_id(alert.conversation_id) is not None
        and "agent" in alert.audience
        and SEVERITY_RANK[alert.severity] >= SEVERITY_RANK[min_severity]
    )


def note_text(alert: Alert) -> str:
    """The note as agents read it in Chatwoot: severity, the nudge, why, and the alert id (the retry marker)."""
    rule = alert.rule.replace("_", " ")
    return f"**Calmwatch · {alert.severity} · {rule}**\n\n{alert.nudge}\n\n_Why: {alert.reason}_ · alert {alert.id}"


class ChatwootNotes:
    """Alert stream -> queued notes -> Chatwoot API; ``run`` until cancelled."""

    def __init__(self, redis: Redis, settings: Settings, api: ChatwootApi) -> None:
        self._redis = redis
        self._settings = settings
        self._api = api
        self._consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"
        self._claim = redis.register_script(_CLAIM)
        self._reserve = redis.register_script(_RESERVE)
        self._wake = asyncio.Event()
        self.stopping = asyncio.Event()  # set at shutdown: both loops end after the command in hand

    async def start(self) -> None:
        await ensure_group(self._redis, redis_keys.ALERTS_STREAM, redis_keys.CHATWOOT_NOTES_GROUP, start_id="$")

    async def run(self) -> None:
        """Both loops until ``stopping`` is set; if this task is cancelled instead (a loop that did not stop in
        time), both loops have ended when it returns (:func:`~monitor.background.run_loops`)."""
        await run_loops({"chatwoot-notes-fanout": self._fanout_loop(), "chatwoot-notes-send": self._send_loop()})

    # --- alerts -> queued notes
    async def _fanout_loop(self) -> None:
        start = "0"  # this consumer's unacknowledged alerts first (a retry), then new ones
        next_claim = 0.0
        while not self.stopping.is_set():
            try:
                if time.monotonic() >= next_claim:  # alerts read by a process that died before queueing them
                    await self._claim_abandoned()
                    next_claim = time.monotonic() + CLAIM_IDLE_MS / 2000
                response: Any = await self._redis.xreadgroup(
                    redis_keys.CHATWOOT_NOTES_GROUP,
                    self._consumer,
                    {redis_keys.ALERTS_STREAM: start},
                    count=100,
                    block=None if start == "0" else BLOCK_MS,
                )
                entries = [e for _s, items in response or [] for e in items]
                for entry_id, fields in entries:
                    if fields and "alert" in fields:
                        await self._queue_entry(entry_id, fields["alert"])
                    await self._redis.xack(redis_keys.ALERTS_STREAM, redis_keys.CHATWOOT_NOTES_GROUP, entry_id)
                if start == "0" and not entries:
                    start = ">"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                    await self.start()
                    continue
                log.warning("chatwoot note fan-out failed; retrying", error=str(exc))
                start = "0"
                await pause(self.stopping, 1.0)

    async def _claim_abandoned(self) -> None:
        entries = await claim_abandoned(
            self._redis, redis_keys.ALERTS_STREAM, redis_keys.CHATWOOT_NOTES_GROUP, self._consumer
        )
        for entry_id, fields in entries:
            if fields and "alert" in fields:
                await self._queue_entry(entry_id, fields["alert"])
            await self._redis.xack(redis_keys.ALERTS_STREAM, redis_keys.CHATWOOT_NOTES_GROUP, entry_id)

    async def _queue_entry(self, entry_id: str, raw: str) -> None:
        try:
            alert = Alert.model_validate({"id": entry_id, **json.loads(raw)})
        except ValueError:
            log.error("unreadable alert in the stream; no note", alert_id=entry_id)
            return
        await self.queue_alert(alert)

    async def queue_alert(self, alert: Alert) -> bool:
        """Queue the alert's note if it wants one; False when it does not, or is queued already."""
        if not wants_note(alert, self._settings.chatwoot_note_min_severity):
            return False
        created = await self._redis.set(
            redis_keys.chatwoot_note(alert.id), Note(alert=alert).model_dump_json(), nx=True, ex=NOTE_TTL_S
        )
        if created:
            await self._redis.zadd(redis_keys.CHATWOOT_NOTES_DUE, {alert.id: time.time()}, nx=True)
            self._wake.set()
        return bool(created)

    async def due_at(self, note_id: str) -> float | None:
        """When the note is next due (None once it is posted or failed)."""
        score = await self._redis.zscore(redis_keys.CHATWOOT_NOTES_DUE, note_id)
        return float(score) if score is not None else None

    # --- due notes -> Chatwoot
    async def _send_loop(self) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._settings.webhook_poll_s)
            self._wake.clear()
            try:
                now = time.time()
                ids: list[str] = await self._claim(
                    keys=[redis_keys.CHATWOOT_NOTES_DUE], args=[now, now + LEASE_S, CLAIM_BATCH]
                )
                await asyncio.gather(*(self.attempt(note_id) for note_id in ids))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("chatwoot note sending failed; retrying", error=str(exc))

    async def attempt(self, note_id: str) -> None:
        raw = await self._redis.get(redis_keys.chatwoot_note(note_id))
        note = Note.model_validate_json(raw) if raw else None
        if note is None or note.status != "pending":
            await self._redis.zrem(redis_keys.CHATWOOT_NOTES_DUE, note_id)
            return
        alert = note.alert
        where = split_conversation_id(alert.conversation_id)
        assert where is not None
        account, conversation = where
        interval = self._settings.chatwoot_note_interval_s
        slot = await self._reserve(
            keys=[redis_keys.chatwoot_last_note(alert.conversation_id)],
            args=[time.time(), interval, int(interval * 2) + 60],
        )
        if float(slot) > 0:  # this conversation had a note too recently: wait for its next slot
            await self._redis.zadd(redis_keys.CHATWOOT_NOTES_DUE, {note_id: float(slot)})
            return
        try:
            message_id = await self._already_posted(note, account, conversation)
            if message_id is None:
                message_id = await self._api.post_note(account, conversation, note_text(alert))
        except PlatformApiError as exc:
            await self._failed(note, str(exc), retryable=exc.retryable)
            return
        await self._redis.set(
            redis_keys.connector_seen(NAME, message_key(account, message_id)),
            "own note",
            ex=self._settings.connector_dedupe_ttl_s,
        )
        note.status, note.chatwoot_message_id, note.attempts = "posted", message_id, note.attempts + 1
        await self._save(note)
        await self._redis.zrem(redis_keys.CHATWOOT_NOTES_DUE, note_id)
        log.info(
            "chatwoot note posted", alert_id=alert.id, conversation_id=alert.conversation_id, message_id=message_id
        )

    async def _already_posted(self, note: Note, account: str, conversation: str) -> str | None:
        """After an attempt whose outcome is unknown, the note Chatwoot may have kept (found by its alert id)."""
        if note.attempts == 0:
            return None
        marker = f"alert {note.alert.id}"
        for message in await self._api.messages(account, conversation):
            if message.get("private") and marker in str(message.get("content") or ""):
                return str(message.get("id"))
        return None

    async def _failed(self, note: Note, error: str, *, retryable: bool) -> None:
        note.attempts += 1
        note.last_error = error
        due = next_attempt_at(note.retries_used, self._settings.webhook_retry_schedule_s, now=time.time())
        if not retryable or due is None:
            note.status = "failed"
            await self._redis.zrem(redis_keys.CHATWOOT_NOTES_DUE, note.alert.id)
            log.error("chatwoot note failed for good", alert_id=note.alert.id, error=error)
        else:
            note.retries_used += 1
            await self._redis.zadd(redis_keys.CHATWOOT_NOTES_DUE, {note.alert.id: due})
            log.warning("chatwoot note failed; retrying", alert_id=note.alert.id, error=error, retry_at=due)
        await self._save(note)

    async def _save(self, note: Note) -> None:
        await self._redis.set(redis_keys.chatwoot_note(note.alert.id), note.model_dump_json(), ex=NOTE_TTL_S)

    async def note(self, alert_id: str) -> Note | None:
        raw = await self._redis.get(redis_keys.chatwoot_note(alert_id))
        return Note.model_validate_json(raw) if raw else None
