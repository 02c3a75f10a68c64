"""The pipeline: one chat message through score -> state -> rules -> alerts, in order per conversation.

The service, ``calmwatch replay`` and the tests all drive this same class (built by
:func:`monitor.runtime.build_pipeline`), so what a replay shows is what the service would have done. A turn
takes a straight path: read what it is judged against (metadata, the window's turns, each rule's last firing)
in one round trip, score it, judge it with pure functions (:func:`judge_turn`: rules, risk, cooldowns),
redact personal data from its text and its alerts (:mod:`monitor.privacy`: the one place, so nothing
stored, published or sent ever holds the original), commit everything it changes in one Lua script, and only
then announce it live. The pipeline owns no connections: the caller hands it a store, a Redis to publish on,
an async scorer (the micro-batcher) and a way to get the current rule engine (which may be hot-reloaded
between turns).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import structlog
from redis.asyncio import Redis

from monitor import live
from monitor.alerts import AlertDraft, Firing, draft_alerts
from monitor.errors import ConversationEndedError, UnknownConversationError
from monitor.ingest import ConversationEnd
from monitor.language import Language
from monitor.privacy import Redactor
from monitor.schemas import (
    AgentReassignment,
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
from monitor.state import ConversationStore, TurnState

log = structlog.get_logger("pipeline")

#: The rules read at most this many characters of each turn, so no accepted text (up to 8,000 characters)
#: makes a turn's work outside the model unbounded; the stored turn keeps its whole text.
RULES_MAX_CHARS = 1000


def as_judged(turn: TurnRecord) -> TurnRecord:
    """The turn as the rules see it: its text cut to :data:`RULES_MAX_CHARS` characters."""
    if len(turn.text) <= RULES_MAX_CHARS:
        return turn
    return turn.model_copy(update={"text": turn.text[:RULES_MAX_CHARS]})


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


@dataclass(frozen=True)
class Judgement:
    """What the rules make of a turn: the conversation's new risk and the alerts that pass their cooldowns."""

    risk: float
    alerts: list[AlertDraft]


def judge_turn(
    rules: RuleEvaluator, snapshot: ConversationSnapshot, last_firings: Mapping[str, Firing], now: datetime
) -> Judgement:
    """Rules, risk and cooldowns for the snapshot's newest turn: pure, so a test needs neither Redis nor a clock."""
    candidates = rules.evaluate(snapshot)
    return Judgement(
        risk=rules.risk(snapshot),
        alerts=draft_alerts(candidates, last_firings, snapshot.meta, snapshot.latest, now),
    )


class Pipeline:
    """Processes conversation events; safe to call concurrently (turns of one conversation are serialised)."""

    def __init__(
        self,
        *,
        store: ConversationStore,
        redis: Redis,
        scorer: AsyncScorer,
        rules: Callable[[], RuleEvaluator],
        observer: PipelineObserver | None = None,
        clock: Callable[[], datetime] = utcnow,
        language: Callable[[str], Language] | None = None,
        redactor: Redactor | None = None,
        score_agents: bool = False,
    ) -> None:
        self.store = store
        self._language = language  # None: every turn is scored
        # Off by default: inferring the emotions of employees at work is not allowed under the EU AI Act
        # (art. 5(1)(f)), so agent turns are not given to the model; the word-based agent rules still read them.
        self._score_agents = score_agents
        self._redactor = redactor if redactor is not None else Redactor()  # private by default
        self._redis = redis  # where the turn is announced live, once committed
        self._clock = clock
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
        await live.publish(self._redis, live.ConversationEndedEnvelope.of(meta))
        return meta

    async def reassign_agent(self, event: AgentReassignment) -> ConversationMeta:
        """Hand the conversation to another agent: alerts raised from now on name (and nudge) the new one."""
        async with self._lock(event.conversation_id):
            meta = await self.store.reassign(event.conversation_id, event.agent)
        if meta is None:
            raise UnknownConversationError(event.conversation_id)
        log.info("conversation reassigned", conversation_id=meta.conversation_id, agent_id=meta.agent.id)
        return meta

    async def handle_message(self, message: ChatMessage) -> ScoredReply:
        """Score the turn, store it, run the rules and raise alerts. Re-sent message ids get the first answer."""
        cid, mid = message.conversation_id, message.message_id
        with structlog.contextvars.bound_contextvars(conversation_id=cid, message_id=mid):
            # Take the conversation's lock before the first await: asyncio locks are FIFO, so turns are
            # processed in the order their handlers started, i.e. the order the connector sent them.
            async with self._lock(cid):
                state = await self.store.read_turn(cid, mid)
                if state.reply is not None:
                    return state.reply
                if state.meta is None:
                    raise UnknownConversationError(cid, message_id=mid)
                if state.meta.ended_at is not None:
                    raise ConversationEndedError(cid, message_id=mid)
                return await self._process(message, state.meta, state)

    async def _score(self, message: ChatMessage) -> tuple[TurnScores | None, str | None]:
        """The turn's scores, or ``None`` and its language when the model cannot read it (not English): a
        furious German turn would score as calm, which is worse than no score. Agent turns are not scored unless
        ``score_agents`` (see the constructor)."""
        if message.role == "agent" and not self._score_agents:
            return None, None
        if self._language is not None:
            found = self._language(message.text)
            if not found.scored:
                return None, found.code
        started = time.perf_counter()
        scores = await self._scorer.score(message.text)
        if self._observer:
            self._observer.turn_scored(message.role, time.perf_counter() - started)
        return scores, None

    async def _process(self, message: ChatMessage, meta: ConversationMeta, state: TurnState) -> ScoredReply:
        scores, language = await self._score(message)
        now = self._clock()
        turn = TurnRecord(
            message_id=message.message_id,
            role=message.role,
            text=message.text,
            sent_at=message.sent_at or now,
            scores=scores,
            language=language,
        )
        window = [*state.recent, turn][-self.store.window :]
        snapshot = ConversationSnapshot(meta=meta, turns=[as_judged(t) for t in window])
        judgement = judge_turn(self._rules(), snapshot, state.last_firings, now)
        # The model and the rules have read the turn as written; from here on only its redacted form exists.
        turn = turn.model_copy(update={"text": self._redactor.redact(turn.text)})
        drafts = [self._redactor.redact_alert(draft) for draft in judgement.alerts]
        reply = await self.store.commit_turn(meta, turn, judgement.risk, drafts)
        for alert in reply.alerts:
            log.info("alert raised", rule=alert.rule, severity=alert.severity, alert_id=alert.id)
            if self._observer:
                self._observer.alert_raised(alert.rule, alert.severity)
        await live.publish(
            self._redis,
            *(live.AlertEnvelope(alert=alert) for alert in reply.alerts),
            live.TurnEnvelope.of(meta, turn, reply.risk),
        )
        return reply
