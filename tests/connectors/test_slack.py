"""Slack Events API ``message`` to turns, url_verification, and the v0 signing secret."""

from __future__ import annotations

import time

import pytest

from monitor.connectors import Request
from monitor.connectors.slack import SlackConnector
from monitor.errors import SignatureError
from monitor.schemas import ChatMessage, ConversationStart
from tests.connectors.platforms import dumps, fixture, slack_headers

SECRET = "sl-signing-secret-of-our-own"


def connector() -> SlackConnector:
    return SlackConnector(SECRET, agents=["U0AGENT001"], tolerance_s=300)


def request(payload: dict[str, object], *, at: float | None = None) -> Request:
    body = dumps(payload)
    headers = {k.lower(): v for k, v in slack_headers(SECRET, body, at=at).items()}
    return Request(body=body, headers=headers, url="http://t/v1/connectors/slack")


def test_message_in_a_channel_starts_a_thread_conversation() -> None:
    """A top-level message is the customer's turn in the thread its ts starts; agents are the configured users."""
    (delivery,) = connector().parse(request(fixture("slack_event_callback.json"))).deliveries
    start, turn = delivery.events
    assert isinstance(start, ConversationStart) and isinstance(turn, ChatMessage)
    assert start.conversation_id == "slack:T0SUPPORT1:C0HELPDESK:1764504333.000200"
    assert turn.role == "customer" and turn.sent_at is not None and int(turn.sent_at.timestamp()) == 1764504333
    reply = fixture("slack_event_callback.json")
    reply["event"].update(user="U0AGENT001", ts="1764504400.000300", thread_ts="1764504333.000200")
    (agent,) = connector().parse(request(reply)).deliveries
    assert agent.events[0].conversation_id == start.conversation_id
    assert isinstance(agent.events[-1], ChatMessage) and agent.events[-1].role == "agent"


def test_bot_and_edited_messages_are_not_turns() -> None:
    """A subtype (edit, bot_message) or a bot_id leaves the event out."""
    for change in ({"subtype": "message_changed"}, {"bot_id": "B0BOT"}):
        payload = fixture("slack_event_callback.json")
        payload["event"].update(change)
        assert connector().parse(request(payload)).deliveries[0].events == []


def test_url_verification_answers_the_challenge() -> None:
    """The handshake's challenge is echoed back."""
    parsed = connector().parse(request(fixture("slack_url_verification.json")))
    assert parsed.deliveries == [] and parsed.reply == {
        "challenge": fixture("slack_url_verification.json")["challenge"]
    }


def test_stale_or_forged_signatures_are_refused() -> None:
    """Older than the tolerance, or signed with another secret: refused."""
    connector().verify(request(fixture("slack_event_callback.json")), now=time.time())
    with pytest.raises(SignatureError, match="stale"):
        connector().verify(request(fixture("slack_event_callback.json"), at=time.time() - 600), now=time.time())
    forged = request(fixture("slack_event_callback.json"))
    with pytest.raises(SignatureError):
        SlackConnector("other", agents=[], tolerance_s=300).verify(forged, now=time.time())
