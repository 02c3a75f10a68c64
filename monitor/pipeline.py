"""The pipeline: one chat message through score -> state -> rules -> alerts, in order per conversation.

The service, ``calmwatch replay`` and the tests all drive this same class, so what a replay shows is what the
service would have done. It owns no connections: the caller hands it a store, an alert log, an async scorer
(the micro-batcher) and a way to get the current rule engine (which may be hot-reloaded between turns).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

import structlog

from monitor.alerts import AlertLog
from monitor.errors import UnknownConversationError
from monitor.ingest import ConversationEnd
from monitor.schemas import (
    AlertCandidate,
    ChatMessage,
    ConversationMeta,
    ConversationSnapshot,
    ConversationStart,
    ScoredReply,
    TurnRecord,
    TurnScores,
    utcnow,
)
from monitor.state import ConversationStore

log = structlog.get_logger("pipeline")


class AsyncScorer(Protocol):
    """What the pipeline needs from scoring: one text in, its scores out, without blocking the loop."""

    async def score(self, text: str) -> TurnScores: ...


class RuleEvaluator(Protocol):
    """The part of :class:`monitor.rules.RuleEngine` the pipeline uses."""

    def evaluate(self, snapshot: ConversationSnapshot) -> list[AlertCandidate]: ...

    def risk(self, snapshot: ConversationSnapshot) -> float: ...


class PipelineObserver(Protocol):
    """Hooks for metrics; the service passes its Prometheus metrics, tests pass nothing."""

    def turn_scored(self, role: str, seconds: float) -> None: ...

    def alert_raised(self, rule: str, severity: str) -> None: ...


class Pipeline:
    """Processes conversation events; safe to call concurrently (turns of one conversation are serialised)."""

    def __init__(
        self,
        *,
        store: ConversationStore,
        alerts: AlertLog,
        scorer: AsyncScorer,
        rules: Callable[[], RuleEvaluator],
        observer: PipelineObserver | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self._clock = clock
        self.alerts = alerts
        self._scorer = scorer
        self._rules = rules
        self._observer = observer
        # A lock per conversation keeps its turns in arrival order while other conversations proceed;
        # weak values let locks of idle conversations be collected.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, conversation_id: str) -> asyncio.Lock:
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[conversation_id] = lock
        return lock

    async def start_conversation(self, event: ConversationStart) -> tuple[ConversationMeta, bool]:
        # Under the conversation's lock so a message sent right after the start on the stream waits for it.
        async with self._lock(event.conversation_id):
            meta, created = await self.store.start(event)
        log.info(
            "conversation started" if created else "conversation start repeated",
            conversation_id=meta.conversation_id,
        )
        return meta, created

    async def end_conversation(self, event: ConversationEnd) -> ConversationMeta:
        async with self._lock(event.conversation_id):
            meta = await self.store.end(event.conversation_id)
        if meta is None:
            raise UnknownConversationError(event.conversation_id)
        log.info("conversation ended", conversation_id=meta.conversation_id)
        return meta

    async def handle_message(self, message: ChatMessage) -> ScoredReply:
        """Score the turn, store it, run the rules and raise alerts. Re-sent message ids get the first answer."""
        cid, mid = message.conversation_id, message.message_id
        with structlog.contextvars.bound_contextvars(conversation_id=cid, message_id=mid):
            # Take the conversation's lock before the first await: asyncio locks are FIFO, so turns are
            # processed in the order their handlers started, i.e. the order the connector sent them.
            async with self._lock(cid):
                cached = await self.store.cached_reply(cid, mid)
                if cached is not None:
                    return ScoredReply.model_validate(cached)
                return await self._process(message)

    async def _process(self, message: ChatMessage) -> ScoredReply:
        meta = await self.store.meta(message.conversation_id)
        if meta is None:
            raise UnknownConversationError(message.conversation_id, message_id=message.message_id)
        started = time.perf_counter()
        scores = await self._scorer.score(message.text)
        if self._observer:
            self._observer.turn_scored(message.role, time.perf_counter() - started)
        now = self._clock()
        turn = TurnRecord(
            message_id=message.message_id,
            role=message.role,
            text=message.text,
            sent_at=message.sent_at or now,
            scores=scores,
        )
        snapshot = await self.store.append_turn(meta, turn)
        engine = self._rules()
        candidates = engine.evaluate(snapshot)
        alerts = await self.alerts.raise_alerts(candidates, meta, turn, now)
        await self.store.record_turn_outcome(meta, turn, engine.risk(snapshot))
        for alert in alerts:
            log.info("alert raised", rule=alert.rule, severity=alert.severity, alert_id=alert.id)
            if self._observer:
                self._observer.alert_raised(alert.rule, alert.severity)
        reply = ScoredReply(message_id=message.message_id, scores=scores.wire(), alerts=alerts)
        await self.store.cache_reply(meta.conversation_id, message.message_id, reply.model_dump(mode="json"))
        return reply
