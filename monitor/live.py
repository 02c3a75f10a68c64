"""Live fan-out: the envelopes consoles and sidebars receive, the one place that publishes them, and who gets what.

Everything live goes through the ``cw:live`` pub/sub channel so that every service process's websocket hub
(:mod:`monitor.delivery.websockets`) hears it, whichever process raised it. Three kinds of envelope exist:

* ``{"type": "alert", "alert": {...}}``: an alert was raised (it is already in the alert stream);
* ``{"type": "turn", ...}``: a turn was scored, with the conversation's new risk (board sparklines, ranking);
* ``{"type": "alert.acknowledged", "ack": {...}}``: a supervisor acknowledged an alert;
* ``{"type": "conversation.ended", ...}``: a conversation ended (boards drop it, sidebars hide its nudges).
* ``{"type": "alert.feedback", "feedback": {...}}``: an agent or supervisor said whether an alert helped.

Who receives what is an :class:`Audience`: the supervisor feed gets alerts, acknowledgements and feedback (and
turns when it asks for them); an agent's nudges are the alerts meant for agents in that agent's conversations,
and the feedback on that agent's alerts.
Pub/sub may drop a message; alerts are then recovered from the stream (``?since=``), turns and
acknowledgements by the console reloading them over REST.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, Field, TypeAdapter
from redis.asyncio import Redis

from monitor import redis_keys as keys
from monitor.schemas import Acknowledgement, Alert, ConversationMeta, Feedback, Role, Scores, TurnRecord


class AlertEnvelope(BaseModel):
    """An alert, as every feed and sidebar receives it (live, or replayed from the stream)."""

    type: Literal["alert"] = "alert"
    alert: Alert


class TurnEnvelope(BaseModel):
    """A scored turn and the conversation's risk after it; only boards that ask (``include=turns``) get these."""

    type: Literal["turn"] = "turn"
    conversation_id: str
    agent_id: str
    message_id: str
    role: Role
    sent_at: datetime
    scores: Scores
    risk: float
    customer_name: str = ""  # so a sidebar can name a chat it has no nudge for ("not scored (German)")

    @classmethod
    def of(cls, meta: ConversationMeta, turn: TurnRecord, risk: float) -> TurnEnvelope:
        return cls(
            conversation_id=meta.conversation_id,
            agent_id=meta.agent.id,
            customer_name=meta.customer.name,
            message_id=turn.message_id,
            role=turn.role,
            sent_at=turn.sent_at,
            scores=turn.wire_scores(),
            risk=risk,
        )


class AckEnvelope(BaseModel):
    """An acknowledgement, so every open console greys the alert out at once."""

    type: Literal["alert.acknowledged"] = "alert.acknowledged"
    ack: Acknowledgement


class ConversationEndedEnvelope(BaseModel):
    """A conversation ended: it leaves every board at once, however high its last risk."""

    type: Literal["conversation.ended"] = "conversation.ended"
    conversation_id: str
    agent_id: str
    ended_at: datetime

    @classmethod
    def of(cls, meta: ConversationMeta) -> ConversationEndedEnvelope:
        assert meta.ended_at is not None
        return cls(conversation_id=meta.conversation_id, agent_id=meta.agent.id, ended_at=meta.ended_at)


class FeedbackEnvelope(BaseModel):
    """A verdict on an alert, so reports pages and the other open sidebar or console show it at once."""

    type: Literal["alert.feedback"] = "alert.feedback"
    feedback: Feedback


Envelope = Annotated[
    AlertEnvelope | TurnEnvelope | AckEnvelope | ConversationEndedEnvelope | FeedbackEnvelope,
    Field(discriminator="type"),
]
_ENVELOPE: TypeAdapter[Envelope] = TypeAdapter(Envelope)


def parse(raw: str | bytes) -> Envelope:
    """An envelope read off the channel; raises ``pydantic.ValidationError`` for anything else."""
    return _ENVELOPE.validate_json(raw)


async def publish(redis: Redis, *envelopes: Envelope) -> None:
    """Announce envelopes to every process's hub, in order, in one round trip.

    Call it only after what the envelopes describe is committed: a client that reacts by reading the REST API
    or the alert stream must find it there.
    """
    if not envelopes:
        return
    # One script rather than a pipeline: Redis Cluster clients refuse PUBLISH in pipelines, and a keyless script
    # runs on any node, from which the cluster passes the messages on to every node's subscribers.
    script = redis.register_script(_PUBLISH)
    await script(keys=[], args=[keys.LIVE_CHANNEL, *(envelope.model_dump_json() for envelope in envelopes)])


_PUBLISH = """
for i = 2, #ARGV do redis.call('PUBLISH', ARGV[1], ARGV[i]) end
return #ARGV - 1
"""


class Audience(Protocol):
    """Who a live socket belongs to: it decides which envelopes that socket is sent."""

    def accepts(self, envelope: Envelope) -> bool: ...


#: What ``include=`` may name on the supervisor feed, and the envelope types each one adds: a board that
#: follows turns also needs to hear that a conversation ended.
_INCLUDE_ALIASES = {"turns": ("turn", "conversation.ended"), "turn": ("turn", "conversation.ended")}


@dataclass(frozen=True)
class SupervisorFeed:
    """``/v1/alerts``: every alert, acknowledgement and feedback, plus the envelope types named in ``include``."""

    types: frozenset[str]

    @classmethod
    def including(cls, include: str = "") -> SupervisorFeed:
        """``include`` as the query parameter has it, comma-separated: ``turns`` (or ``turn``) adds turn scores."""
        names = [part.strip() for part in include.split(",") if part.strip()]
        extra = {kind for name in names for kind in _INCLUDE_ALIASES.get(name, (name,))}
        return cls(types=frozenset({"alert", "alert.acknowledged", "alert.feedback", *extra}))

    def accepts(self, envelope: Envelope) -> bool:
        return envelope.type in self.types


@dataclass(frozen=True)
class AgentNudges:
    """``/v1/agents/{agent_id}/nudges``: the alerts addressed to agents in this agent's conversations, plus what
    the sidebar needs to show those chats truly: customer turns (is the latest one scored, or "not scored
    (German)"?), the end of a conversation, and the feedback on this agent's alerts (so a second sidebar tab
    shows a verdict given in the first). Nothing of any other agent's chats."""

    agent_id: str

    def accepts(self, envelope: Envelope) -> bool:
        if isinstance(envelope, AlertEnvelope):
            return envelope.alert.agent_id == self.agent_id and "agent" in envelope.alert.audience
        if isinstance(envelope, TurnEnvelope):
            return envelope.agent_id == self.agent_id and envelope.role == "customer"
        if isinstance(envelope, ConversationEndedEnvelope):
            return envelope.agent_id == self.agent_id
        if isinstance(envelope, FeedbackEnvelope):
            return envelope.feedback.agent_id == self.agent_id
        return False
