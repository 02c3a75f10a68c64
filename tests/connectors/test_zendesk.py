"""Sunshine Conversations ``conversation:message`` payloads to turns, and the X-API-Key check."""

from __future__ import annotations

import time

import pytest

from monitor.connectors import Request
from monitor.connectors.zendesk import ZendeskConnector
from monitor.errors import SignatureError
from monitor.schemas import AgentReassignment, ChatMessage, ConversationStart
from tests.connectors.platforms import dumps, fixture, zendesk_headers

SECRET = "zd-webhook-secret-of-our-own"


def request(headers: dict[str, str]) -> Request:
    body = dumps(fixture("zendesk_conversation_message.json"))
    return Request(body=body, headers={k.lower(): v for k, v in headers.items()}, url="http://t/v1/connectors/zendesk")


def test_user_and_business_messages_become_customer_and_agent_turns() -> None:
    """Each event is a delivery; user -> customer, business -> agent, image content is not a turn."""
    user, business, image = ZendeskConnector(SECRET).parse(request(zendesk_headers(SECRET))).deliveries
    start, turn = user.events
    assert isinstance(start, ConversationStart) and isinstance(turn, ChatMessage)
    assert start.conversation_id == "zendesk:65c2a1d3f5b8e80013bc0042"
    assert (start.customer.id, start.customer.name) == ("zendesk:user:65c2a1d3f5b8e80013bc0007", "Jonas Berg")
    assert turn.role == "customer" and turn.text.startswith("I have been waiting")
    assert turn.sent_at is not None and turn.sent_at.isoformat() == "2026-11-30T10:02:11.402000+00:00"
    reassign, agent_turn = business.events[1], business.events[2]
    assert isinstance(reassign, AgentReassignment) and reassign.agent.name == "Ana Souza"
    assert isinstance(agent_turn, ChatMessage) and agent_turn.role == "agent"
    assert image.events == [] and "image" in (image.ignored or "")
    assert user.key != business.key


def test_wrong_or_missing_key_is_refused() -> None:
    """X-API-Key must equal the webhook's secret."""
    ZendeskConnector(SECRET).verify(request(zendesk_headers(SECRET)), now=time.time())
    for headers in (zendesk_headers("nope"), {"content-type": "application/json"}):
        with pytest.raises(SignatureError):
            ZendeskConnector(SECRET).verify(request(headers), now=time.time())
