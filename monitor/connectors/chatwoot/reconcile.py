"""Reconciliation: Chatwoot does not retry account webhooks, so a webhook lost to a restart or a network blip
would be a turn Calmwatch never scores. Every ``chatwoot_reconcile_interval_s`` the poller reads the recent
messages (Chatwoot's last 20) of every active ``chatwoot:`` conversation on the board through the API and
queues those it has not seen. It shares the webhooks' per-message dedupe key, so a message is queued once
whichever way it came first, and our own notes (marked seen when posted) are never ingested.

A recovered message is scored when it is recovered, after turns that came later; the rules then judge it
against the turns before it in arrival order. A conversation whose every webhook was lost is not on the
board, so it is not polled: ``conversation_created`` or any later message webhook brings it back.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from redis.asyncio import Redis

from monitor import redis_keys
from monitor.connectors.base import Delivery
from monitor.connectors.chatwoot.api import ChatwootApi
from monitor.connectors.chatwoot.inbound import NAME, message_event, message_key, split_conversation_id
from monitor.connectors.queue import ConnectorQueue, pause
from monitor.errors import PlatformApiError

log = structlog.get_logger("connectors.chatwoot")

#: Conversations read at once, so a large board does not hit Chatwoot with hundreds of calls together.
CONCURRENCY = 4


class ChatwootReconciler:
    def __init__(self, redis: Redis, api: ChatwootApi, queue: ConnectorQueue, *, interval_s: float) -> None:
        self._redis = redis
        self._api = api
        self._queue = queue
        self._interval_s = interval_s
        self.recovered = 0  # messages queued by reconciliation since start (tests and logs read it)
        self.stopping = asyncio.Event()  # set at shutdown: no new round starts

    async def run(self) -> None:
        while not self.stopping.is_set():
            await pause(self.stopping, self._interval_s)
            if self.stopping.is_set():
                return
            try:
                await self.reconcile_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("chatwoot reconciliation failed; next round as usual", error=str(exc))

    async def reconcile_once(self) -> int:
        """One round over the active Chatwoot conversations; returns how many missed messages were queued."""
        conversations: list[str] = [
            str(member)
            async for member, _score in self._redis.zscan_iter(redis_keys.ACTIVE_CONVERSATIONS, match=f"{NAME}:*")
        ]
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(cid: str) -> int:
            async with gate:
                return await self._reconcile(cid)

        counts = await asyncio.gather(*(one(cid) for cid in conversations))
        total = sum(counts)
        if total:
            log.info("chatwoot reconciliation recovered missed messages", messages=total)
        self.recovered += total
        return total

    async def _reconcile(self, cid: str) -> int:
        where = split_conversation_id(cid)
        if where is None:
            return 0
        account, conversation = where
        try:
            messages: list[dict[str, Any]] = await self._api.messages(account, conversation)
        except PlatformApiError as exc:
            log.warning("chatwoot messages not readable", conversation_id=cid, error=str(exc))
            return 0
        queued = 0
        for message in messages:
            turn, _why = message_event(account, cid, message)
            if turn is None:
                continue
            key = message_key(account, message.get("id"))
            result = await self._queue.accept(NAME, [Delivery(key, [turn])])
            queued += result.queued
        return queued
