"""Typed events that pass between the pipeline stages, and the wire shapes of the v1 API.

The flow is ``ChatMessage -> ScoredTurn -> AlertCandidate -> Alert``:

* ingest validates a :class:`ChatMessage` (or a :class:`ConversationStart`),
* scoring turns its text into :class:`TurnScores`,
* state appends a :class:`TurnRecord` and hands the rules a :class:`ConversationSnapshot`,
* the rule engine answers with :class:`AlertCandidate` objects (pure data, no ids, no clock),
* the alert stage applies cooldowns, gives each survivor an id and persists it as an :class:`Alert`,
* the caller gets a :class:`ScoredReply`; consoles hear of alerts and acknowledgements live (:mod:`monitor.live`).

Everything here is JSON on the wire and in Redis (``model_dump(mode="json")``), never pickle.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Role = Literal["customer", "agent"]
Severity = Literal["info", "warning", "critical"]
AudienceMember = Literal["agent", "supervisor"]

#: Severity order, so "a rule may fire again inside its cooldown only if its severity rises" is a comparison.
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}

#: Longest accepted message text, in characters. Chat turns are short; a megabyte is an error, not a turn.
MAX_TEXT_CHARS = 8_000
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@\-]{0,127}$"


def utcnow() -> datetime:
    """Timezone-aware now; naive datetimes never enter the pipeline."""
    return datetime.now(UTC)


class _Strict(BaseModel):
    """Unknown fields are refused so that a connector's typo is an error, not silently dropped data."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @field_validator("*")
    @classmethod
    def _valid_unicode(cls, value: object) -> object:
        """JSON may escape a lone surrogate (``"\\ud800"``), which is no text: it could be neither stored nor
        echoed back as UTF-8, so it is refused here as a bad field like any other."""
        if isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("contains a lone surrogate (not valid Unicode)") from None
        return value


class Party(_Strict):
    """A customer or an agent as the chat platform names them."""

    id: str = Field(pattern=_ID_PATTERN)
    name: str = Field(default="", max_length=200)


class ConversationStart(_Strict):
    """``POST /v1/conversations`` and the ``conversation.start`` stream event."""

    conversation_id: str = Field(pattern=_ID_PATTERN)
    customer: Party
    agent: Party
    channel: str | None = Field(default=None, max_length=64)


class AgentReassignment(_Strict):
    """A conversation handed to another agent (a connector's assignee change); later alerts name the new agent."""

    conversation_id: str = Field(pattern=_ID_PATTERN)
    agent: Party


class ChatMessage(_Strict):
    """One turn of a chat, as a connector sends it (``POST /v1/messages``, ``message`` stream event)."""

    conversation_id: str = Field(pattern=_ID_PATTERN)
    message_id: str = Field(pattern=_ID_PATTERN)
    role: Role
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    sent_at: datetime | None = None

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty (only whitespace)")
        return value

    @field_validator("sent_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Scores(BaseModel):
    """The numbers every turn gets on the wire; all in documented ranges.

    A turn the model did not read (not English, or an agent turn while agents are not scored) says so with
    ``scored: false`` and has no numbers at all: a 0.0 would claim "calm" for a furious German customer, and
    consumers could not tell it from a real score."""

    anger: float | None = Field(default=None, ge=0.0, le=1.0, description="null when `scored` is false")
    frustration: float | None = Field(default=None, ge=0.0, le=1.0, description="null when `scored` is false")
    sentiment: float | None = Field(
        default=None, ge=-1.0, le=1.0, description="VADER compound, -1 (negative) .. +1 (positive); null unscored"
    )
    scored: bool = Field(default=True, description="false: the turn was not scored (see `language`)")
    language: str | None = Field(
        default=None, description="ISO 639-1 code when the turn was left unscored because it is not English"
    )

    @model_validator(mode="after")
    def _numbers_iff_scored(self) -> Scores:
        numbers = (self.anger, self.frustration, self.sentiment)
        if self.scored and any(v is None for v in numbers):
            raise ValueError("a scored turn has anger, frustration and sentiment")
        if not self.scored and any(v is not None for v in numbers):
            raise ValueError("an unscored turn has no anger, frustration or sentiment")
        return self


class TurnScores(BaseModel):
    """What a scorer returns for one text: the three wire numbers plus the 28 emotion probabilities.

    A scorer always scores; a turn that is not given to the model has no ``TurnScores`` at all
    (:attr:`TurnRecord.scores` is ``None``)."""

    anger: float = Field(ge=0.0, le=1.0)
    frustration: float = Field(ge=0.0, le=1.0)
    sentiment: float = Field(ge=-1.0, le=1.0)
    emotions: dict[str, float] = Field(default_factory=dict)

    def wire(self) -> Scores:
        return Scores(anger=self.anger, frustration=self.frustration, sentiment=self.sentiment)


class ConversationMeta(BaseModel):
    """Conversation metadata kept in Redis; rules read names from here (``use_name``)."""

    conversation_id: str
    customer: Party
    agent: Party
    channel: str | None = None
    started_at: datetime
    ended_at: datetime | None = None


class TurnRecord(BaseModel):
    """A turn as stored in the conversation's turn list. ``scores`` is ``None`` when the model did not read it
    (``language`` then says why, when it is not English); the word-based rules still read its text."""

    message_id: str
    role: Role
    text: str
    sent_at: datetime
    scores: TurnScores | None
    language: str | None = None

    def wire_scores(self) -> Scores:
        """The turn's scores as the API shows them, ``scored: false`` when there are none."""
        if self.scores is None:
            return Scores(scored=False, language=self.language)
        return self.scores.wire()


class ConversationSnapshot(BaseModel):
    """What the rule engine sees: the metadata and the recent turns, oldest first; the last is the new one."""

    meta: ConversationMeta
    turns: list[TurnRecord]

    @property
    def latest(self) -> TurnRecord:
        return self.turns[-1]


class AlertCandidate(BaseModel):
    """A rule's verdict before cooldown and persistence: pure data, no id and no clock."""

    rule: str
    severity: Severity
    audience: list[AudienceMember]
    nudge: str
    reason: str
    cooldown_s: float = 0.0
    variant: str | None = Field(default=None, description="the detector's outcome; a new one passes a cooldown")
    hold_after_critical_s: float = Field(
        default=0.0, ge=0.0, description="a lower-severity alert waits this long after a critical one (pack setting)"
    )


class Alert(BaseModel):
    """An alert as delivered to agents, supervisors and webhooks. ``id`` is its Redis Stream entry id."""

    id: str
    rule: str
    severity: Severity
    conversation_id: str
    message_id: str
    agent_id: str
    customer_name: str = ""  # so an agent's sidebar can name the customer without reading the conversation
    agent_name: str = ""  # so the sidebar can greet its agent by name (an agent key reads no conversation)
    audience: list[AudienceMember]
    nudge: str
    reason: str
    created_at: datetime


class ScoredReply(BaseModel):
    """``POST /v1/messages`` response body (and, with ``type``, the stream's ``scored`` event).

    ``risk`` is the conversation's risk after this turn (what the board shows), so a caller that ranks or
    reports conversations needs no second read."""

    message_id: str
    scores: Scores
    alerts: list[Alert]
    risk: float = Field(ge=0.0, le=1.0, description="the conversation's risk after this turn, 0 (calm) .. 1")


class Acknowledgement(BaseModel):
    """Who acknowledged an alert, and when: stored once per alert and announced to every console."""

    alert_id: str
    by: str = Field(max_length=100)
    at: datetime
    key_id: str | None = Field(default=None, description="the API key that acknowledged (open mode: `open`)")


Verdict = Literal["helpful", "false_alarm"]


class Feedback(BaseModel):
    """Whether an alert helped, from the agent it nudged or a supervisor: the latest one per alert is current.

    ``rule`` and ``agent_id`` are copied from the alert so that reports and live audiences need no second read."""

    alert_id: str
    rule: str
    agent_id: str
    verdict: Verdict
    note: str = Field(default="", max_length=500)
    by: str = Field(max_length=100, description="the agent id, or the supervisor's key name")
    by_role: str = Field(description="the role of the key that gave it")
    key_id: str | None = Field(default=None, description="the API key that gave it (open mode: `open`)")
    at: datetime


class AlertWithFeedback(Alert):
    """An alert as ``GET /v1/alerts`` lists it: with its current verdict, if anyone gave one."""

    feedback: Feedback | None = None
