"""LiveChat (Text platform) webhooks: ``incoming_chat`` (start, with the chat's users and their names),
``incoming_event`` (a message) and ``chat_deactivated`` (end).

A chat is a series of threads; each thread is one conversation, keyed ``livechat:<chat_id>:<thread_id>``. An
``incoming_event`` with ``event.type`` ``message`` and ``visibility`` ``all`` is a turn (``agents``-only
events are internal notes); its ``author_id`` is an agent's when it is an agent's login (an e-mail address,
as LiveChat identifies agents), otherwise the customer's. Every webhook carries the ``secret_key`` set when it
was registered, compared in constant time; there is no signed timestamp, so replays are caught by the dedupe
of event ids.
"""

from __future__ import annotations

from typing import Any

from monitor.connectors.base import (
    Delivery,
    Parsed,
    Request,
    SignedConnector,
    as_dict,
    as_list,
    iso,
    party,
    safe_id,
    turn_events,
    turn_text,
    unassigned,
)
from monitor.connectors.signatures import check_equal
from monitor.errors import SignatureError
from monitor.ingest import ConversationEnd, decode_json_object
from monitor.schemas import ChatMessage, ConversationStart, Role

NAME = "livechat"


def is_agent(user_id: object) -> bool:
    return isinstance(user_id, str) and "@" in user_id


class LiveChatConnector(SignedConnector):
    name = NAME

    def verify(self, request: Request, *, now: float) -> None:
        try:
            given = decode_json_object(request.body).get("secret_key")
        except Exception:
            raise SignatureError("body is not JSON, so it holds no secret_key") from None
        if not isinstance(given, str) or not given:
            raise SignatureError("no secret_key in the body")
        check_equal(given, self.secret, header="secret_key")

    def parse(self, request: Request) -> Parsed:
        data = decode_json_object(request.body)
        action = data.get("action")
        payload = as_dict(data.get("payload"))
        if action == "incoming_event":
            return Parsed([self._event(payload, as_dict(data.get("additional_data")))])
        if action == "incoming_chat":
            return Parsed([self._chat(as_dict(payload.get("chat")))])
        if action == "chat_deactivated":
            cid = safe_id(NAME, payload.get("chat_id"), payload.get("thread_id"))
            key = f"end:{payload.get('chat_id')}:{payload.get('thread_id')}"
            return Parsed([Delivery(key, [ConversationEnd(conversation_id=cid)])])
        return Parsed([Delivery(f"{action}:{data.get('webhook_id')}", [], ignored=f"action {action!r}")])

    def _chat(self, chat: dict[str, Any]) -> Delivery:
        thread = as_dict(chat.get("thread"))
        key = f"chat:{chat.get('id')}:{thread.get('id')}"
        users = [as_dict(u) for u in as_list(chat.get("users"))]
        customer = next((u for u in users if u.get("type") == "customer"), {})
        agent = next((u for u in users if u.get("type") == "agent"), None)
        start = ConversationStart(
            conversation_id=safe_id(NAME, chat.get("id"), thread.get("id")),
            customer=party(NAME, "customer", customer.get("id", "unknown"), customer.get("name")),
            agent=party(NAME, "agent", agent.get("id"), agent.get("name")) if agent else unassigned(NAME),
            channel=NAME,
        )
        return Delivery(key, [start])

    def _event(self, payload: dict[str, Any], extra: dict[str, Any]) -> Delivery:
        event = as_dict(payload.get("event"))
        key = f"event:{payload.get('chat_id')}:{event.get('id')}"
        if event.get("type") != "message":
            return Delivery(key, [], ignored=f"{event.get('type')} event, not a chat turn")
        if event.get("visibility", "all") != "all":
            return Delivery(key, [], ignored="visible to agents only (an internal note)")
        text = turn_text(event.get("text"))
        if text is None:
            return Delivery(key, [], ignored="no text")
        cid = safe_id(NAME, payload.get("chat_id"), payload.get("thread_id"))
        author = event.get("author_id", "unknown")
        role: Role = "agent" if is_agent(author) else "customer"
        turn = ChatMessage(
            conversation_id=cid,
            message_id=safe_id(NAME, event.get("id")),
            role=role,
            text=text,
            sent_at=iso(event.get("created_at")),
        )
        speaker = party(NAME, role, author)
        events = turn_events(conversation_id=cid, message=turn, speaker=speaker, channel=NAME, platform=NAME)
        if role == "agent":  # the customer is among the chat's present users, when LiveChat says who they are
            present = [u for u in as_list(extra.get("chat_presence_user_ids")) if isinstance(u, str)]
            customer = next((u for u in present if not is_agent(u)), None)
            if customer is not None:
                start = events[0]
                assert isinstance(start, ConversationStart)
                events[0] = start.model_copy(update={"customer": party(NAME, "customer", customer)})
        return Delivery(key, events)
