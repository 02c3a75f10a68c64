"""The pipeline: one chat message through score -> state -> rules -> alerts, in order per conversation.

The service, ``calmwatch replay`` and the tests all drive this same class (built by
:func:`monitor.runtime.build_pipeline`), so what a replay shows is what the service would have done. A turn
takes a straight path: take its place in the conversation's order (a ticket, see :mod:`monitor.state`), score
it while waiting for the turns before it (whichever process has them), read what it is judged against
(metadata, the window's turns, each rule's last firing) once it holds the turn, judge it with pure functions
(:func:`judge_turn`: rules, risk, cooldowns), redact personal data from its text and its alerts
(:mod:`monitor.privacy`: the one place, so nothing stored, published or sent ever holds the original), commit
everything it changes in one fenced Lua script, and only then announce it live. Any number of processes on one
Redis therefore give the same result as one. The pipeline owns no connections: the caller hands it a store, a
Redis to publish on, an async scorer (the micro-batcher) and a way to get the current rule engine (which may be
hot-reloaded between turns).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import structlog
from redis.asyncio import Redis

from monitor import live
from monitor.alerts import AlertDraft, Firing, draft_alerts
from monitor.errors import ConversationEndedError, TurnContendedError, TurnLostError, UnknownConversationError
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
_T = TypeVar("_T")
#: A turn's scores, or None and its language when the model does not read it (see ``Pipeline._score``).
Scored = tuple[TurnScores | None, str | None]

#: The rules read at most this many characters of each turn, so no accepted text (up to 8,000 characters)
#: makes a turn's work outside the model unbounded; the stored turn keeps its whole text.
RULES_MAX_CHARS = 1000
#: A turn whose ticket lapsed (this process stalled past the lease) takes a new one this many times at most.
TURN_ATTEMPTS = 3
#: While an earlier turn of the conversation is in another process, the turn asks again after this long,
#: doubling up to the cap (a turn finishing in this process wakes its successors at once).
WAIT_FIRST_S, WAIT_MAX_S = 0.002, 0.05


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


def _kept(table: weakref.WeakValueDictionary[str, _T], conversation_id: str, make: Callable[[], _T]) -> _T:
    """The conversation's entry of ``table``, made if there is none (it lives while someone holds it)."""
    value = table.get(conversation_id)
    if value is None:
        value = make()
        table[conversation_id] = value
    return value


class Pipeline:
    """Processes conversation events; safe to call concurrently, from any number of processes on one Redis
    (turns of one conversation are serialised in arrival order by their tickets, see :mod:`monitor.state`)."""

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
        # A lock per conversation orders this process's arrivals (ticket-taking) and its starts and ends; an
        # event per conversation wakes this process's waiting turns when one of its turns finishes. Weak values
        # let those of idle conversations be collected.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._finished: weakref.WeakValueDictionary[str, asyncio.Event] = weakref.WeakValueDictionary()
        # This process's tickets in flight per conversation: a turn with an earlier one here waits for that one's
        # finish event instead of asking Redis again and again.
        self._tickets: dict[str, set[int]] = {}

    def _lock(self, conversation_id: str) -> asyncio.Lock:
        return _kept(self._locks, conversation_id, asyncio.Lock)

    def _finish_event(self, conversation_id: str) -> asyncio.Event:
        return _kept(self._finished, conversation_id, asyncio.Event)

    def _announce_finished(self, conversation_id: str) -> None:
        event = self._finished.pop(conversation_id, None)
        if event is not None:
            event.set()

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
            scoring: asyncio.Future[Scored] | None = None
            try:
                for attempt in range(1, TURN_ATTEMPTS + 1):
                    # The ticket is taken under the lock, before any other await: asyncio locks are FIFO, so this
                    # process's turns get tickets in the order their handlers started (the order the connector
                    # sent them); turns arriving at other processes get theirs in the order they reach Redis.
                    async with self._lock(cid):
                        arrival = await self.store.arrive(cid, mid)
                    if arrival.reply is not None:
                        return arrival.reply
                    if arrival.ticket is None:
                        raise UnknownConversationError(cid, message_id=mid)
                    if scoring is None:  # scored once, while the turns before it are judged
                        scoring = asyncio.ensure_future(self._score(message))
                    try:
                        return await self._turn(message, arrival.ticket, arrival.state, scoring)
                    except TurnLostError:
                        log.warning("turn lapsed before its commit; taking a new place", attempt=attempt)
                raise TurnContendedError(message_id=mid)
            finally:
                if scoring is not None and not scoring.done():
                    scoring.cancel()

    async def _score(self, message: ChatMessage) -> Scored:
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

    async def _turn(
        self, message: ChatMessage, ticket: int, state: TurnState | None, scoring: asyncio.Future[Scored]
    ) -> ScoredReply:
        """Hold ``ticket`` until the turn is committed or given up; the ticket is released on any failure."""
        cid = message.conversation_id
        committed = False
        self._tickets.setdefault(cid, set()).add(ticket)
        try:
            state = await self._wait_turn(message, ticket, state, scoring)
            if state.pending is not None:  # an earlier turn died between its commit and its alerts: finish it
                stored, pending = state.pending
                log.warning("completing a turn left pending", pending_message_id=pending.message_id)
                reply = await self.store.complete(cid, stored, pending)
                if pending.message_id == message.message_id:
                    return reply  # this is a resend of that very turn; release() below serves the ticket
                state = await self._wait_turn(message, ticket, None, scoring)
            if state.reply is not None:  # a resend whose first copy was committed while this one waited
                return state.reply
            if state.meta is None:
                raise UnknownConversationError(cid, message_id=message.message_id)
            if state.meta.ended_at is not None:
                raise ConversationEndedError(cid, message_id=message.message_id)
            reply = await self._process(message, state.meta, state, scoring.result(), ticket)
            committed = True
            return reply
        finally:
            if not committed:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.store.release_turn(cid, ticket))
            mine = self._tickets.get(cid)
            if mine is not None:
                mine.discard(ticket)
                if not mine:
                    del self._tickets[cid]
            self._announce_finished(cid)

    async def _wait_turn(
        self, message: ChatMessage, ticket: int, state: TurnState | None, scoring: asyncio.Future[Scored]
    ) -> TurnState:
        """Wait until the ticket holds the turn and the scores are in, renewing the lease meanwhile."""
        cid, mid = message.conversation_id, message.message_id
        delay = WAIT_FIRST_S
        renew_s = self.store.turn_lease_s / 3
        asked = time.monotonic()  # when the lease was last renewed (arrival renewed it)
        while True:
            if state is not None and scoring.done():
                scoring.result()  # a scoring error (e.g. the queue is full) ends the turn here
                return state
            finished = self._finish_event(cid)
            # Holding the turn, or behind an earlier turn of this process (whose finish wakes this one), there is
            # nothing to learn from Redis but the renewal is due now and then. Behind another process's turn: ask
            # again soon, backing off.
            quiet = state is not None or self._behind_mine(cid, ticket)
            waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(finished.wait())}
            if not scoring.done():
                waits.add(scoring)
            timeout = max(renew_s - (time.monotonic() - asked), 0.0) if quiet else delay
            try:
                await asyncio.wait(waits, timeout=timeout, return_when="FIRST_COMPLETED")
            finally:
                for waiter in waits:
                    if waiter is not scoring:
                        waiter.cancel()
            if state is not None and scoring.done():
                continue  # holds the turn, and the scores just came
            renewal_due = time.monotonic() - asked >= renew_s
            if state is None and self._behind_mine(cid, ticket) and not renewal_due:
                continue  # an earlier turn of this process is still going: it is not this turn's turn yet
            if state is not None and not finished.is_set() and not renewal_due:
                continue  # holds the turn; only the scores came
            state = await self.store.take_turn(cid, mid, ticket)
            asked = time.monotonic()
            delay = min(delay * 2, WAIT_MAX_S) if state is None else WAIT_FIRST_S

    def _behind_mine(self, conversation_id: str, ticket: int) -> bool:
        """Whether an earlier ticket of the conversation is in flight in this process."""
        return any(t < ticket for t in self._tickets.get(conversation_id, ()))

    async def _process(
        self, message: ChatMessage, meta: ConversationMeta, state: TurnState, scored: Scored, ticket: int
    ) -> ScoredReply:
        scores, language = scored
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
        reply = await self.store.commit_turn(meta, turn, judgement.risk, drafts, ticket=ticket)
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
