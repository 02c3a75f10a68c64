"""LiveChat ``incoming_event`` to turns, and the secret_key check."""

from __future__ import annotations

import time

import pytest

from monitor.connectors import Request
from monitor.connectors.livechat import LiveChatConnector
from monitor.errors import SignatureError
from monitor.ingest import ConversationEnd
from monitor.schemas import AgentReassignment, ChatMessage, ConversationStart
from tests.connectors.platforms import dumps, fixture

SECRET = "lc-secret-of-our-own"


def request(payload: dict[str, object]) -> Request:
    return Request(
        body=dumps(payload), headers={"content-type": "application/json"}, url="http://t/v1/connectors/livechat"
    )


def test_customer_and_agent_events_become_turns() -> None:
    """A UUID author is the customer, an e-mail author the agent; the thread is the conversation."""
    (customer,) = LiveChatConnector(SECRET).parse(request(fixture("livechat_incoming_event.json"))).deliveries
    start, turn = customer.events
    assert isinstance(start, ConversationStart) and isinstance(turn, ChatMessage)
    assert start.conversation_id == "livechat:RK2P9QW1ZX:RK2P9QW2AB"
    assert turn.role == "customer" and turn.sent_at is not None and turn.sent_at.microsecond == 120000
    (agent,) = LiveChatConnector(SECRET).parse(request(fixture("livechat_incoming_event_agent.json"))).deliveries
    start, reassign, turn = agent.events
    assert isinstance(start, ConversationStart) and isinstance(reassign, AgentReassignment)
    assert start.customer.id == "livechat:customer:8c2f7d7e-3a41-4b7c-9e2d-1f0a6b5c4d3e"
    assert reassign.agent.id == "livechat:agent:lena.fischer@support.example.org"
    assert isinstance(turn, ChatMessage) and turn.role == "agent"


def test_internal_events_are_not_turns() -> None:
    """An event visible to agents only is an internal note."""
    payload = fixture("livechat_incoming_event.json")
    payload["payload"]["event"]["visibility"] = "agents"
    (delivery,) = LiveChatConnector(SECRET).parse(request(payload)).deliveries
    assert delivery.events == [] and "agents only" in (delivery.ignored or "")


def test_wrong_secret_key_is_refused() -> None:
    """The body's secret_key must be the configured one."""
    LiveChatConnector(SECRET).verify(request(fixture("livechat_incoming_event.json")), now=time.time())
    with pytest.raises(SignatureError):
        LiveChatConnector("another").verify(request(fixture("livechat_incoming_event.json")), now=time.time())


def test_incoming_chat_names_both_sides_and_deactivation_ends_the_thread() -> None:
    """incoming_chat starts the thread's conversation with the users' names; chat_deactivated ends it."""
    (chat,) = LiveChatConnector(SECRET).parse(request(fixture("livechat_incoming_chat.json"))).deliveries
    (start,) = chat.events
    assert isinstance(start, ConversationStart) and start.conversation_id == "livechat:RK2P9QW1ZX:RK2P9QW2AB"
    assert (start.customer.name, start.agent.name) == ("Sam Oduya", "Lena Fischer")
    assert start.agent.id == "livechat:agent:lena.fischer@support.example.org"
    (end,) = LiveChatConnector(SECRET).parse(request(fixture("livechat_chat_deactivated.json"))).deliveries
    assert end.events == [ConversationEnd(conversation_id="livechat:RK2P9QW1ZX:RK2P9QW2AB")]
