"""Unit tests of the ingest stage: raw frames to typed events or named errors."""

from __future__ import annotations

import pytest

from monitor.errors import IngestError
from monitor.ingest import ConversationEnd, parse_stream_event
from monitor.schemas import ChatMessage, ConversationStart


def test_parses_each_event_type() -> None:
    """The three stream event types parse into their typed events."""
    start = parse_stream_event(
        '{"type":"conversation.start","conversation_id":"c","customer":{"id":"u","name":"Zoë"},"agent":{"id":"a"}}'
    )
    assert isinstance(start, ConversationStart) and start.customer.name == "Zoë"
    msg = parse_stream_event('{"type":"message","conversation_id":"c","message_id":"m","role":"agent","text":"hi"}')
    assert isinstance(msg, ChatMessage) and msg.role == "agent"
    assert isinstance(parse_stream_event('{"type":"conversation.end","conversation_id":"c"}'), ConversationEnd)


@pytest.mark.parametrize(
    ("raw", "code", "mentions"),
    [
        (b"\xc3\x28", "invalid_encoding", "UTF-8"),
        ("[1, 2]", "invalid_json", "list"),
        ('{"conversation_id": "c"}', "unknown_type", "None"),
        (
            '{"type":"message","conversation_id":"c","message_id":"m","role":"customer","text":"x","extra":1}',
            "invalid_event",
            "extra: unknown field",
        ),
        (
            '{"type":"message","conversation_id":"has space","message_id":"m","role":"customer","text":"x"}',
            "invalid_event",
            "conversation_id",
        ),
    ],
)
def test_bad_frames_name_their_problem(raw: str | bytes, code: str, mentions: str) -> None:
    """Each malformed frame raises IngestError with a stable code and a detail naming the problem."""
    with pytest.raises(IngestError) as caught:
        parse_stream_event(raw)
    assert caught.value.code == code
    assert mentions in caught.value.detail
