"""Intercom ``conversation.user.replied`` / ``conversation.admin.replied`` to turns, and X-Hub-Signature."""

from __future__ import annotations

import time

import pytest

from monitor.connectors import Request
from monitor.connectors.intercom import IntercomConnector, plain_text
from monitor.errors import SignatureError
from monitor.ingest import ConversationEnd
from monitor.schemas import AgentReassignment, ChatMessage, ConversationStart
from tests.connectors.platforms import dumps, fixture, intercom_headers

SECRET = "ic-client-secret-of-our-own"


def request(name: str, secret: str = SECRET) -> Request:
    body = dumps(fixture(name))
    headers = {k.lower(): v for k, v in intercom_headers(secret, body).items()}
    return Request(body=body, headers=headers, url="http://t/v1/connectors/intercom")


def test_user_reply_is_the_customers_turn_in_plain_text() -> None:
    """The new comment part, HTML dropped, author user -> customer with the author's name and time."""
    (delivery,) = IntercomConnector(SECRET).parse(request("intercom_conversation_user_replied.json")).deliveries
    start, turn = delivery.events
    assert isinstance(start, ConversationStart) and isinstance(turn, ChatMessage)
    assert start.conversation_id == "intercom:128004500012345" and start.agent.id == "intercom:admin:5500123"
    assert start.customer.name == "Priya Natarajan"
    assert (
        turn.role == "customer" and turn.text == "This is ridiculous and unacceptable, I've asked three times already."
    )
    assert turn.sent_at is not None and int(turn.sent_at.timestamp()) == 1764496230
    assert delivery.key == "notif_3c1e9a70-5d2b-4e0f-9a11-6f2b8c4d7e90"


def test_admin_reply_is_the_agents_turn_and_notes_are_left_out() -> None:
    """An admin comment is the agent's turn; the note part in the same notification is not a turn."""
    (delivery,) = IntercomConnector(SECRET).parse(request("intercom_conversation_admin_replied.json")).deliveries
    turns = [e for e in delivery.events if isinstance(e, ChatMessage)]
    assert [(t.role, t.text) for t in turns] == [("agent", "Sorry Priya, I'm on it. One moment.")]


def test_plain_text_keeps_words_apart() -> None:
    """Paragraphs and line breaks become spaces, entities are decoded."""
    assert plain_text("<p>one</p><p>two&amp;three<br>four</p>") == "one two&three four"


def test_bad_signature_is_refused() -> None:
    """A body signed with another secret is refused; the right one passes."""
    IntercomConnector(SECRET).verify(request("intercom_conversation_user_replied.json"), now=time.time())
    with pytest.raises(SignatureError):
        IntercomConnector(SECRET).verify(request("intercom_conversation_user_replied.json", "other"), now=time.time())


def test_assignment_reassigns_and_closing_ends() -> None:
    """conversation.admin.assigned hands the conversation to admin_assignee_id; admin.closed ends it."""
    payload = fixture("intercom_conversation_user_replied.json")
    payload.update(topic="conversation.admin.assigned", id="notif_assign")
    payload["data"]["item"]["admin_assignee_id"] = 5500999
    (assigned,) = IntercomConnector(SECRET).parse(raw(payload)).deliveries
    reassign = assigned.events[-1]
    assert isinstance(reassign, AgentReassignment) and reassign.agent.id == "intercom:admin:5500999"
    payload.update(topic="conversation.admin.closed", id="notif_close")
    (closed,) = IntercomConnector(SECRET).parse(raw(payload)).deliveries
    assert closed.events == [ConversationEnd(conversation_id="intercom:128004500012345")]


def test_new_conversation_reads_its_first_message_from_the_source() -> None:
    """conversation.user.created: the customer's opening message is item.source."""
    payload = fixture("intercom_conversation_user_replied.json") | {"topic": "conversation.user.created"}
    (delivery,) = IntercomConnector(SECRET).parse(raw(payload)).deliveries
    turn = delivery.events[-1]
    assert isinstance(turn, ChatMessage) and (turn.role, turn.text) == ("customer", "Hi, my order is late")
    assert turn.message_id == "intercom:2100334455"


def raw(payload: dict[str, object]) -> Request:
    body = dumps(payload)
    return Request(body=body, headers={}, url="http://t/v1/connectors/intercom")
