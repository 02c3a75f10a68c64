"""Twilio Conversations ``onMessageAdded`` (form-encoded) to turns, and X-Twilio-Signature over URL + fields."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest

from monitor.connectors import Request
from monitor.connectors.twilio import TwilioConnector
from monitor.errors import SignatureError
from monitor.ingest import ConversationEnd
from monitor.schemas import ChatMessage, ConversationStart
from tests.connectors.platforms import twilio_form, twilio_headers

TOKEN = "tw-auth-token-of-our-own"
URL = "https://calmwatch.example.org/v1/connectors/twilio"


def request(form: list[tuple[str, str]], headers: dict[str, str], url: str = URL) -> Request:
    return Request(
        body=urlencode(form).encode(), headers={k.lower(): v for k, v in headers.items()}, url=url, form=tuple(form)
    )


def test_sms_author_is_the_customer_and_a_chat_identity_an_agent() -> None:
    """A phone-number author is the customer; with agent identities configured, those are agents."""
    form = twilio_form()
    (delivery,) = TwilioConnector(TOKEN, public_url=None).parse(request(form, {})).deliveries
    start, turn = delivery.events
    assert isinstance(start, ConversationStart) and isinstance(turn, ChatMessage)
    assert start.conversation_id == "twilio:CH0a1b2c3d4e5f60718293a4b5c6d7e8f9" and start.channel == "sms"
    assert turn.role == "customer" and turn.text == "Useless support, this is ridiculous, I have been waiting for weeks"
    assert turn.sent_at is not None and turn.sent_at.isoformat() == "2026-11-30T12:05:33+00:00"
    agent_form = [(k, "agent.kim" if k == "Author" else v) for k, v in form]
    (agent,) = TwilioConnector(TOKEN, public_url=None, agents=["agent.kim"]).parse(request(agent_form, {})).deliveries
    assert isinstance(agent.events[-1], ChatMessage) and agent.events[-1].role == "agent"


def test_signature_covers_the_url_and_every_field() -> None:
    """Right token and URL pass; another URL (a proxy) fails unless CALMWATCH_TWILIO_WEBHOOK_URL names it."""
    form = twilio_form()
    headers = twilio_headers(TOKEN, URL, form)
    TwilioConnector(TOKEN, public_url=None).verify(request(form, headers), now=time.time())
    behind_proxy = request(form, headers, url="http://10.0.0.5:8000/v1/connectors/twilio")
    with pytest.raises(SignatureError):
        TwilioConnector(TOKEN, public_url=None).verify(behind_proxy, now=time.time())
    TwilioConnector(TOKEN, public_url=URL).verify(behind_proxy, now=time.time())
    changed = [(k, "changed" if k == "Body" else v) for k, v in form]
    with pytest.raises(SignatureError):
        TwilioConnector(TOKEN, public_url=None).verify(request(changed, headers), now=time.time())


def test_closed_state_ends_the_conversation_and_other_states_do_not() -> None:
    """onConversationStateUpdated to closed ends it; to inactive it is ignored."""
    base = [
        ("AccountSid", "AC5f1e2d3c4b5a69788796a5b4c3d2e1f0"),
        ("ChatServiceSid", "IS9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
        ("ConversationSid", "CH0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
        ("EventType", "onConversationStateUpdated"),
        ("StateFrom", "active"),
        ("Reason", "API"),
        ("DateUpdated", "2026-11-30T12:30:00.000Z"),
    ]
    connector = TwilioConnector(TOKEN, public_url=None)
    (closed,) = connector.parse(request([*base, ("StateTo", "closed")], {})).deliveries
    assert closed.events == [ConversationEnd(conversation_id="twilio:CH0a1b2c3d4e5f60718293a4b5c6d7e8f9")]
    (inactive,) = connector.parse(request([*base, ("StateTo", "inactive")], {})).deliveries
    assert inactive.events == [] and "inactive" in (inactive.ignored or "")
