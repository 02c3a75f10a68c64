"""Chatwoot's webhook payloads to Calmwatch events, and its signature check."""

from __future__ import annotations

import time

import pytest

from monitor.connectors import Request
from monitor.connectors.chatwoot import ChatwootConnector
from monitor.errors import SignatureError
from monitor.ingest import ConversationEnd
from monitor.schemas import AgentReassignment, ChatMessage, ConversationStart
from tests.connectors.platforms import chatwoot_headers, dumps, fixture

SECRET = "cw-webhook-secret-of-our-own"
URL = "http://calmwatch.test/v1/connectors/chatwoot?account_id=2"


def request(payload: dict[str, object], *, url: str = URL, headers: dict[str, str] | None = None) -> Request:
    body = dumps(payload)
    given = headers if headers is not None else chatwoot_headers(SECRET, body)
    return Request(body=body, headers={k.lower(): v for k, v in given.items()}, url=url)


def connector() -> ChatwootConnector:
    return ChatwootConnector(SECRET, tolerance_s=300)


def test_incoming_message_is_the_customers_turn() -> None:
    """message_created/incoming: a start naming customer and assignee, then the customer's turn with its time."""
    (delivery,) = connector().parse(request(fixture("chatwoot_message_created.json"))).deliveries
    start, message = delivery.events
    assert isinstance(start, ConversationStart) and isinstance(message, ChatMessage)
    assert start.conversation_id == "chatwoot:2:41" == message.conversation_id
    assert (start.customer.id, start.customer.name) == ("chatwoot:2:contact:512", "Dana Kowalczyk")
    assert (start.agent.id, start.agent.name) == ("chatwoot:2:agent:7", "Ravi")
    assert message.role == "customer" and message.message_id == "chatwoot:9001"
    assert message.sent_at is not None and message.sent_at.isoformat() == "2026-11-30T09:12:40+00:00"
    assert delivery.key == "msg:2:9001"


def test_outgoing_message_from_an_agent_is_the_agents_turn() -> None:
    """message_created/outgoing from a user sender is the agent's turn; with no assignee the sender is the agent."""
    payload = fixture("chatwoot_message_created.json")
    payload.update(message_type="outgoing", id=9002, content="Let me check that for you")
    payload["sender"] = {"id": 7, "name": "Ravi Menon", "type": "user"}
    del payload["conversation"]["meta"]["assignee"]
    (delivery,) = connector().parse(request(payload)).deliveries
    start, message = delivery.events
    assert isinstance(start, ConversationStart) and isinstance(message, ChatMessage)
    assert message.role == "agent" and start.agent.id == "chatwoot:2:agent:7"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"private": True}, "private note"),
        ({"message_type": "activity"}, "activity"),
        ({"message_type": "template", "content_type": "input_email"}, "template"),
        ({"message_type": "outgoing", "sender": {"id": 3, "name": "Triage bot", "type": "agent_bot"}}, "bot"),
        ({"content": None}, "no text"),
    ],
)
def test_what_is_not_a_chat_turn_is_ignored(change: dict[str, object], reason: str) -> None:
    """Private notes (Calmwatch's own among them), activity, template, bot and empty messages are not turns."""
    payload = fixture("chatwoot_message_created.json") | change
    (delivery,) = connector().parse(request(payload)).deliveries
    assert delivery.events == [] and delivery.ignored is not None and reason in delivery.ignored


def test_conversation_created_starts_it_and_needs_the_account_from_the_url() -> None:
    """Conversation payloads carry no account id: the webhook URL's ?account_id= supplies it."""
    payload = fixture("chatwoot_conversation_created.json")
    (delivery,) = connector().parse(request(payload)).deliveries
    (start,) = delivery.events
    assert isinstance(start, ConversationStart) and start.conversation_id == "chatwoot:2:41"
    assert start.channel == "Channel::WebWidget"
    (without,) = connector().parse(request(payload, url="http://calmwatch.test/v1/connectors/chatwoot")).deliveries
    assert without.events == [] and "account_id" in (without.ignored or "")


def test_assignee_change_reassigns_and_resolved_ends() -> None:
    """conversation_updated names the new assignee; conversation_status_changed to resolved ends the conversation."""
    (updated,) = connector().parse(request(fixture("chatwoot_conversation_updated.json"))).deliveries
    reassign = updated.events[-1]
    assert isinstance(reassign, AgentReassignment)
    assert (reassign.agent.id, reassign.agent.name) == ("chatwoot:2:agent:9", "Mei")
    (resolved,) = connector().parse(request(fixture("chatwoot_conversation_status_changed.json"))).deliveries
    assert resolved.events == [ConversationEnd(conversation_id="chatwoot:2:41")]
    reopened = fixture("chatwoot_conversation_status_changed.json") | {"status": "open"}
    assert connector().parse(request(reopened)).deliveries[0].events == []


def test_signature_is_checked() -> None:
    """A good signature passes; a wrong secret, a changed body, a missing header and a stale timestamp do not."""
    payload = fixture("chatwoot_message_created.json")
    connector().verify(request(payload), now=time.time())
    body = dumps(payload)
    bad = [
        chatwoot_headers("another-secret", body),
        {k: v for k, v in chatwoot_headers(SECRET, body).items() if k != "X-Chatwoot-Signature"},
        chatwoot_headers(SECRET, body, at=time.time() - 3600),
    ]
    for headers in bad:
        with pytest.raises(SignatureError):
            connector().verify(request(payload, headers=headers), now=time.time())
    tampered = Request(
        body=body.replace(b"arrived", b"ARRIVED"),
        headers={k.lower(): v for k, v in chatwoot_headers(SECRET, body).items()},
        url=URL,
    )
    with pytest.raises(SignatureError, match="does not match"):
        connector().verify(tampered, now=time.time())
