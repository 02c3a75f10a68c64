"""Zendesk messaging through Sunshine Conversations: v2 webhooks with ``conversation:message`` events.

A request carries a list of ``events``; each ``conversation:message`` has ``payload.conversation.id`` and a
``payload.message`` whose ``author.type`` is ``user`` (the customer) or ``business`` (an agent, or a bot
speaking for the business: those with ``author.subtypes`` or no ``displayName`` are left out), its
``content.type`` (only ``text`` is a turn) and ``received`` (the time). The webhook's secret arrives as the
``X-API-Key`` header, compared in constant time; Sunshine Conversations signs no timestamp, so replays are
caught by the dedupe of event ids (``connector_dedupe_ttl_s``).
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
)
from monitor.connectors.signatures import check_equal, require_header
from monitor.ingest import decode_json_object
from monitor.schemas import ChatMessage, Role

NAME = "zendesk"


class ZendeskConnector(SignedConnector):
    name = NAME

    def verify(self, request: Request, *, now: float) -> None:
        check_equal(require_header(request.headers, "X-API-Key"), self.secret, header="X-API-Key")

    def parse(self, request: Request) -> Parsed:
        payload = decode_json_object(request.body)
        app_id = as_dict(payload.get("app")).get("id", "app")
        return Parsed([self._event(app_id, as_dict(e)) for e in as_list(payload.get("events"))])

    def _event(self, app_id: object, event: dict[str, Any]) -> Delivery:
        key = f"{app_id}:{event.get('id')}"
        if event.get("type") != "conversation:message":
            return Delivery(key, [], ignored=f"event {event.get('type')!r} is not a message")
        body = as_dict(event.get("payload"))
        message = as_dict(body.get("message"))
        author = as_dict(message.get("author"))
        content = as_dict(message.get("content"))
        kind = author.get("type")
        if kind not in ("user", "business"):
            return Delivery(key, [], ignored=f"author type {kind!r}")
        if kind == "business" and (author.get("subtypes") or not author.get("displayName")):
            return Delivery(key, [], ignored="a bot or integration speaking for the business")
        if content.get("type") != "text":
            return Delivery(key, [], ignored=f"{content.get('type')} content, not a chat turn")
        text = turn_text(content.get("text"))
        if text is None:
            return Delivery(key, [], ignored="no text")
        cid = safe_id(NAME, as_dict(body.get("conversation")).get("id"))
        role: Role = "customer" if kind == "user" else "agent"
        speaker_id = author.get("userId") if kind == "user" else author.get("displayName")
        speaker = party(NAME, "user" if kind == "user" else "agent", speaker_id or "unknown", author.get("displayName"))
        turn = ChatMessage(
            conversation_id=cid,
            message_id=safe_id(NAME, message.get("id")),
            role=role,
            text=text,
            sent_at=iso(message.get("received")) or iso(event.get("createdAt")),
        )
        channel = as_dict(message.get("source")).get("type") or NAME
        return Delivery(
            key,
            turn_events(conversation_id=cid, message=turn, speaker=speaker, channel=str(channel)[:64], platform=NAME),
        )
