"""The API layer's error mapping: which HTTP status each kind of ingest error answers with."""

from __future__ import annotations

from monitor.api.errors import INGEST_STATUS, status_for
from monitor.errors import (
    BatcherClosed,
    ConversationEndedError,
    IngestError,
    OverloadedError,
    QueueFull,
    RateLimitedError,
    UnknownConversationError,
)


def test_each_ingest_error_has_its_status() -> None:
    """A bad event is 422, an unknown conversation 404, an ended one 409, overload 503 and a rate limit 429."""
    assert status_for(IngestError("invalid_event", "text: missing")) == 422
    assert status_for(UnknownConversationError("c1")) == 404
    assert status_for(ConversationEndedError("c1")) == 409
    assert status_for(OverloadedError()) == 503
    assert status_for(RateLimitedError(1.5)) == 429


def test_subclasses_answer_as_their_nearest_mapped_ancestor() -> None:
    """The batcher's QueueFull and BatcherClosed are overload (503) without a line of their own."""
    assert QueueFull not in INGEST_STATUS and BatcherClosed not in INGEST_STATUS
    assert status_for(QueueFull()) == 503
    assert status_for(BatcherClosed()) == 503
