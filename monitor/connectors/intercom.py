"""Intercom webhooks (``notification_event``): ``conversation.user.created``, ``conversation.user.replied``,
``conversation.admin.replied``, plus ``conversation.admin.assigned`` (reassignment) and
``conversation.admin.closed`` (end).

The conversation is ``data.item``; a reply's new part is in ``conversation_parts.conversation_parts`` with
``part_type`` ``comment`` (notes, assignments and bot parts are not turns), an ``author`` whose ``type`` is
``user``/``lead``/``contact`` (the customer) or ``admin`` (an agent), an HTML ``body`` and ``created_at`` in
epoch seconds. A new conversation's first message is ``item.source``. The signature is
``X-Hub-Signature: sha1=<hex>``, HMAC-SHA1 of the raw body with the app's client secret; Intercom signs no
timestamp, so replays are caught by the dedupe of notification ids.
"""

from __future__ import annotations

import html
import re
from typing import Any

from monitor.connectors.base import (
    ConnectorEvent,
    Delivery,
    Parsed,
    Request,
    SignedConnector,
    as_dict,
    as_list,
    epoch,
    party,
    safe_id,
    turn_text,
    unassigned,
)
from monitor.connectors.signatures import check_equal, hmac_hex, require_header
from monitor.ingest import ConversationEnd, decode_json_object
from monitor.schemas import AgentReassignment, ChatMessage, ConversationStart, Party, Role

NAME = "intercom"
_CUSTOMER_TYPES = ("user", "lead", "contact")
_BREAK = re.compile(r"<(?:br|/p|/div|/li|/h\d)\b[^>]*>", re.I)
_TAG = re.compile(r"<[^>]+>")
_TURN_TOPICS = ("conversation.user.created", "conversation.user.replied", "conversation.admin.replied")


def plain_text(body: object) -> str | None:
    """Intercom bodies are HTML: tags dropped (a ``<br>`` or paragraph becomes a space), entities decoded."""
    if not isinstance(body, str):
        return None
    return turn_text(" ".join(html.unescape(_TAG.sub("", _BREAK.sub(" ", body))).split()))


class IntercomConnector(SignedConnector):
    name = NAME

    def verify(self, request: Request, *, now: float) -> None:
        given = require_header(request.headers, "X-Hub-Signature")
        check_equal(given, "sha1=" + hmac_hex(self.secret, request.body, "sha1"), header="X-Hub-Signature")

    def parse(self, request: Request) -> Parsed:
        payload = decode_json_object(request.body)
        topic = str(payload.get("topic", ""))
        key = str(payload.get("id"))
        item = as_dict(as_dict(payload.get("data")).get("item"))
        cid = safe_id(NAME, item.get("id"))
        if topic == "conversation.admin.closed":
            return Parsed([Delivery(key, [ConversationEnd(conversation_id=cid)])])
        if topic == "conversation.admin.assigned":
            assignee = item.get("admin_assignee_id")
            if assignee is None:
                return Parsed([Delivery(key, [], ignored="unassigned")])
            events: list[ConnectorEvent] = [
                _start(cid, item, None),
                AgentReassignment(conversation_id=cid, agent=party(NAME, "admin", assignee)),
            ]
            return Parsed([Delivery(key, events)])
        if topic not in _TURN_TOPICS:
            return Parsed([Delivery(key, [], ignored=f"topic {topic!r} is not one Calmwatch reads")])
        if topic == "conversation.user.created":
            parts = [{**as_dict(item.get("source")), "part_type": "comment", "created_at": item.get("created_at")}]
        else:
            parts = [as_dict(p) for p in as_list(as_dict(item.get("conversation_parts")).get("conversation_parts"))]
        events = []
        for part in parts:
            turn, speaker = _turn(cid, part)
            if turn is None or speaker is None:
                continue
            start = _start(cid, item, speaker if turn.role == "agent" else None)
            if turn.role == "customer" and not start.customer.name:
                start = start.model_copy(update={"customer": speaker})
            events += [start, turn]
        if not events:
            return Parsed([Delivery(key, [], ignored="no customer or admin comment in the notification")])
        return Parsed([Delivery(key, events)])


def _turn(cid: str, part: dict[str, Any]) -> tuple[ChatMessage | None, Party | None]:
    author = as_dict(part.get("author"))
    kind = author.get("type")
    if part.get("part_type") != "comment" or kind not in (*_CUSTOMER_TYPES, "admin"):
        return None, None
    text = plain_text(part.get("body"))
    if text is None:
        return None, None
    role: Role = "agent" if kind == "admin" else "customer"
    speaker = party(NAME, "admin" if role == "agent" else "contact", author.get("id", "unknown"), author.get("name"))
    turn = ChatMessage(
        conversation_id=cid,
        message_id=safe_id(NAME, part.get("id") or f"{cid}:source"),
        role=role,
        text=text,
        sent_at=epoch(part.get("created_at")),
    )
    return turn, speaker


def _start(cid: str, item: dict[str, Any], replying_admin: Party | None) -> ConversationStart:
    contacts = as_list(as_dict(item.get("contacts")).get("contacts"))
    contact = as_dict(contacts[0]) if contacts else {}
    assignee = item.get("admin_assignee_id")
    agent = party(NAME, "admin", assignee) if assignee is not None else replying_admin or unassigned(NAME)
    return ConversationStart(
        conversation_id=cid,
        customer=party(NAME, "contact", contact.get("id", "unknown")),
        agent=agent,
        channel=NAME,
    )
