"""What every connector is: a platform's signed webhook in, Calmwatch's own events out.

A connector does two pure things, so each can be tested with the platform's sample payloads and no service:
:meth:`Connector.verify` checks the platform's signature (raising :class:`SignatureError` with the reason), and
:meth:`Connector.parse` maps the payload to :data:`ConnectorEvent` objects (conversation start, message, end,
agent reassignment), leaving out what is not a chat turn. The HTTP route (``monitor/api/connectors.py``) does
the rest: dedupe, queue, and a fast 200.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from monitor.ingest import ConversationEnd
from monitor.schemas import MAX_TEXT_CHARS, AgentReassignment, ChatMessage, ConversationStart, Party

ConnectorEvent = ConversationStart | ChatMessage | ConversationEnd | AgentReassignment

_UNSAFE = re.compile(r"[^A-Za-z0-9._:@\-]")
_MAX_ID = 128


@dataclass(frozen=True)
class Request:
    """The parts of an HTTP request a connector reads: raw body (signatures are over the exact bytes)."""

    body: bytes
    headers: Mapping[str, str]  # lower-case names
    url: str
    form: tuple[tuple[str, str], ...] = ()  # a form-encoded body's fields in order (Twilio), parsed by the route


@dataclass(frozen=True)
class Delivery:
    """One platform event as the connector understood it. ``key`` identifies it for dedupe (the platform's
    delivery or event id); ``events`` may be empty with ``ignored`` saying why (a private note, a bot...)."""

    key: str
    events: list[ConnectorEvent]
    ignored: str | None = None


@dataclass(frozen=True)
class Parsed:
    """What one webhook request holds: usually one delivery, several for batching platforms (Zendesk), and
    ``reply`` when the platform expects a specific answer body (Slack's url_verification challenge)."""

    deliveries: list[Delivery]
    reply: dict[str, Any] | None = None


class Connector(Protocol):
    """One chat platform. ``name`` is the route's last segment and the prefix of its conversation ids."""

    name: str

    @property
    def secret_configured(self) -> bool: ...

    def verify(self, request: Request, *, now: float) -> None:
        """Raise :class:`monitor.errors.SignatureError` unless the platform signed this request recently."""

    def parse(self, request: Request) -> Parsed:
        """The request's deliveries; raises :class:`monitor.errors.IngestError` for a body it cannot read."""


class SignedConnector:
    """What every connector shares: its platform secret, and whether one is configured (with none, the route
    accepts the platform only in open mode). Subclasses add ``verify`` and ``parse``."""

    name: str

    def __init__(self, secret: str | None) -> None:
        self._secret = secret or None

    @property
    def secret_configured(self) -> bool:
        return self._secret is not None

    @property
    def secret(self) -> str:
        if self._secret is None:
            raise RuntimeError(f"{self.name}: verify called with no secret configured")
        return self._secret


def safe_id(*parts: object) -> str:
    """A Calmwatch id from platform ids: joined with ``:``, unsafe characters replaced, long ones hashed, so a
    platform's id of any shape becomes a valid conversation, message or party id and the same one each time."""
    raw = ":".join(str(p) for p in parts)
    cleaned = _UNSAFE.sub("_", raw)
    if not cleaned[:1].isalnum():
        cleaned = "x" + cleaned
    if len(cleaned) > _MAX_ID:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:32]
        cleaned = f"{cleaned[: _MAX_ID - 33]}~{digest}"
    return cleaned


def turn_text(text: object) -> str | None:
    """The text of a turn, cut to what Calmwatch accepts; None when there is none (attachments, cards)."""
    if not isinstance(text, str) or not text.strip():
        return None
    return text[:MAX_TEXT_CHARS]


def epoch(value: object) -> datetime | None:
    """Seconds (or milliseconds) since the epoch, as platforms send them, to an aware datetime."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if number > 1e11:  # milliseconds
        number /= 1000
    return datetime.fromtimestamp(number, UTC)


def iso(value: object) -> datetime | None:
    """An ISO-8601 time (``Z`` or an offset) as platforms send them; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace(" UTC", "+00:00")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def names(value: object) -> str:
    """A display name cut to what :class:`monitor.schemas.Party` accepts."""
    return value[:200] if isinstance(value, str) else ""


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> Sequence[Any]:
    return value if isinstance(value, list) else []


def party(platform: str, kind: str, pid: object, name: object = "") -> Party:
    """A customer or agent of a platform, ``<platform>:<kind>:<id>``."""
    return Party(id=safe_id(platform, kind, pid), name=names(name))


def unassigned(platform: str) -> Party:
    """The agent of a conversation no agent has spoken in yet (no platform assignment is known)."""
    return Party(id=safe_id(platform, "unassigned"), name="")


def turn_events(
    *, conversation_id: str, message: ChatMessage, speaker: Party, channel: str, platform: str
) -> list[ConnectorEvent]:
    """The events of one turn on a platform with no conversation lifecycle in its webhooks: the conversation
    starts with its first turn (an idempotent start before every turn), and the last agent who spoke is the
    conversation's agent (a reassignment whenever another agent speaks; a no-op when it is the same one)."""
    if message.role == "customer":
        start = ConversationStart(
            conversation_id=conversation_id, customer=speaker, agent=unassigned(platform), channel=channel
        )
        return [start, message]
    start = ConversationStart(
        conversation_id=conversation_id,
        customer=Party(id=safe_id(platform, "customer", "unknown"), name=""),
        agent=speaker,
        channel=channel,
    )
    return [start, AgentReassignment(conversation_id=conversation_id, agent=speaker), message]
