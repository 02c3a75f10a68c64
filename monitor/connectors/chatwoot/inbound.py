"""Chatwoot account webhooks in: ``conversation_created``, ``message_created``, ``conversation_updated``
(assignee) and ``conversation_status_changed`` (resolved ends the conversation).

Conversations are keyed ``chatwoot:<account>:<conversation>`` (the conversation's number as the dashboard and
the API show it, ``id`` in the payloads), parties ``chatwoot:<account>:contact:<id>`` and
``chatwoot:<account>:agent:<id>``. Conversation payloads carry no account id, so it is read from the message
list or the webhook URL's ``?account_id=`` (docs/connectors.md says to add it). ``incoming`` messages are the
customer's, ``outgoing`` ones from a ``user`` sender the agent's; private notes (Calmwatch's own among them),
bot and automation messages, activity and template messages are not turns.

The signature is ``X-Chatwoot-Signature: sha256=<hex>``, HMAC-SHA256 with the webhook's secret over
``"{X-Chatwoot-Timestamp}.{raw body}"``.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

from monitor.connectors.base import (
    ConnectorEvent,
    Delivery,
    Parsed,
    Request,
    SignedConnector,
    as_dict,
    as_list,
    epoch,
    iso,
    names,
    safe_id,
    turn_text,
)
from monitor.connectors.signatures import check_equal, check_fresh, hmac_hex, require_header
from monitor.ingest import ConversationEnd, decode_json_object
from monitor.schemas import AgentReassignment, ChatMessage, ConversationStart, Party

NAME = "chatwoot"
#: The API's integer message types (the webhooks send the names).
_MESSAGE_TYPES = {0: "incoming", 1: "outgoing", 2: "activity", 3: "template"}


def conversation_id(account_id: object, conversation: object) -> str:
    return safe_id(NAME, account_id, conversation)


def split_conversation_id(cid: str) -> tuple[str, str] | None:
    """``chatwoot:<account>:<conversation>`` back to its parts (None for another platform's id)."""
    parts = cid.split(":")
    if len(parts) != 3 or parts[0] != NAME:
        return None
    return parts[1], parts[2]


def message_key(account_id: object, message_id: object) -> str:
    """The dedupe key of one Chatwoot message, shared by webhooks, reconciliation and our own posted notes."""
    return f"msg:{account_id}:{message_id}"


def customer_party(account_id: object, contact: dict[str, Any]) -> Party:
    return Party(id=safe_id(NAME, account_id, "contact", contact.get("id", "unknown")), name=names(contact.get("name")))


def agent_party(account_id: object, user: dict[str, Any] | None) -> Party:
    if not user or user.get("id") is None:
        return Party(id=safe_id(NAME, account_id, "unassigned"), name="")
    name = user.get("available_name") or user.get("name")
    return Party(id=safe_id(NAME, account_id, "agent", user["id"]), name=names(name))


def message_event(account_id: object, cid: str, message: dict[str, Any]) -> tuple[ChatMessage | None, str | None]:
    """A Chatwoot message (webhook or API shape) as a turn, or None and why it is not one."""
    if message.get("private"):
        return None, "private note"
    kind = message.get("message_type")
    kind = _MESSAGE_TYPES.get(kind, str(kind)) if isinstance(kind, int) else kind
    if kind not in ("incoming", "outgoing"):
        return None, f"{kind} message, not a chat turn"
    if message.get("content_type") not in (None, "text"):
        return None, f"{message.get('content_type')} content, not a chat turn"
    sender = as_dict(message.get("sender"))
    sender_type = str(sender.get("type") or message.get("sender_type") or "").lower()
    if kind == "outgoing" and sender_type != "user":
        return None, f"outgoing message from {sender_type or 'no sender'} (bot or automation)"
    text = turn_text(message.get("content"))
    if text is None:
        return None, "no text (attachment only)"
    sent_at = iso(message.get("created_at")) or epoch(message.get("created_at"))
    return (
        ChatMessage(
            conversation_id=cid,
            message_id=safe_id(NAME, message.get("id")),
            role="customer" if kind == "incoming" else "agent",
            text=text,
            sent_at=sent_at,
        ),
        None,
    )


class ChatwootConnector(SignedConnector):
    name = NAME

    def __init__(self, secret: str | None, *, tolerance_s: float) -> None:
        super().__init__(secret)
        self._tolerance_s = tolerance_s

    def verify(self, request: Request, *, now: float) -> None:
        timestamp = require_header(request.headers, "X-Chatwoot-Timestamp")
        given = require_header(request.headers, "X-Chatwoot-Signature")
        check_fresh(timestamp, now=now, tolerance_s=self._tolerance_s, header="X-Chatwoot-Timestamp")
        expected = "sha256=" + hmac_hex(self.secret, timestamp.encode() + b"." + request.body)
        check_equal(given, expected, header="X-Chatwoot-Signature")

    def parse(self, request: Request) -> Parsed:
        payload = decode_json_object(request.body)
        event = str(payload.get("event", ""))
        delivery_key = request.headers.get("x-chatwoot-delivery") or hashlib.sha256(request.body).hexdigest()[:32]
        if event == "message_created":
            return Parsed([self._message(payload, request)])
        conversation = payload
        account = _account_id(payload, conversation, request)
        key = f"{event}:{delivery_key}"
        if account is None:
            return Parsed([Delivery(key, [], ignored="no account id: add ?account_id=<id> to the webhook URL")])
        cid = conversation_id(account, conversation.get("id"))
        if event == "conversation_created":
            return Parsed([Delivery(key, [_start(account, cid, conversation, None)])])
        if event == "conversation_updated":
            assignee = as_dict(as_dict(conversation.get("meta")).get("assignee"))
            if not assignee:
                return Parsed([Delivery(key, [], ignored="conversation update without an assignee")])
            events: list[ConnectorEvent] = [
                _start(account, cid, conversation, None),
                AgentReassignment(conversation_id=cid, agent=agent_party(account, assignee)),
            ]
            return Parsed([Delivery(key, events)])
        if event in ("conversation_status_changed", "conversation_resolved"):
            if conversation.get("status") != "resolved":
                return Parsed([Delivery(key, [], ignored=f"status {conversation.get('status')!r} is not an end")])
            return Parsed([Delivery(key, [ConversationEnd(conversation_id=cid)])])
        return Parsed([Delivery(key, [], ignored=f"event {event!r} is not one Calmwatch reads")])

    def _message(self, payload: dict[str, Any], request: Request) -> Delivery:
        conversation = as_dict(payload.get("conversation"))
        account = _account_id(payload, conversation, request)
        if account is None:
            return Delivery(f"message_created:{payload.get('id')}", [], ignored="no account id")
        key = message_key(account, payload.get("id"))
        cid = conversation_id(account, conversation.get("id") or conversation.get("display_id"))
        message, why = message_event(account, cid, payload)
        if message is None:
            return Delivery(key, [], ignored=why)
        sender = as_dict(payload.get("sender"))
        start = _start(account, cid, conversation, sender if message.role == "agent" else None)
        if message.role == "customer" and not start.customer.name and sender.get("name"):
            start = start.model_copy(update={"customer": customer_party(account, sender)})
        return Delivery(key, [start, message])


def _start(
    account: str, cid: str, conversation: dict[str, Any], outgoing_sender: dict[str, Any] | None
) -> ConversationStart:
    meta = as_dict(conversation.get("meta"))
    contact = as_dict(meta.get("sender")) or {"id": as_dict(conversation.get("contact_inbox")).get("contact_id")}
    assignee = as_dict(meta.get("assignee")) or outgoing_sender
    channel = conversation.get("channel")
    return ConversationStart(
        conversation_id=cid,
        customer=customer_party(account, contact),
        agent=agent_party(account, assignee),
        channel=str(channel)[:64] if channel else NAME,
    )


def _account_id(payload: dict[str, Any], conversation: dict[str, Any], request: Request) -> str | None:
    candidates: list[Any] = [as_dict(payload.get("account")).get("id"), payload.get("account_id")]
    candidates += [as_dict(m).get("account_id") for m in as_list(conversation.get("messages"))]
    candidates += parse_qs(urlsplit(request.url).query).get("account_id", [])
    for value in candidates:
        if value is not None and str(value).strip():
            return str(value).strip()
    return None
