"""Twilio Conversations post-event webhooks: ``onMessageAdded`` (a message) and ``onConversationStateUpdated``
to ``closed`` (end), form-encoded.

Fields as Twilio names them: ``ConversationSid``, ``MessageSid``, ``Author``, ``Body``, ``DateCreated``
(ISO 8601), ``Source``. Twilio has no notion of agent and customer, so: with
``CALMWATCH_TWILIO_AGENT_IDENTITIES`` set, those authors are agents and every other author a customer;
without it, an author that is a messaging address (``+15551234567``, ``whatsapp:...``, ``messenger:...``) is
the customer and a chat identity is an agent. The signature is ``X-Twilio-Signature``: base64 HMAC-SHA1 with
the auth token over the full URL Twilio called followed by every form field's name and value, sorted by name.
Behind a proxy the URL Calmwatch sees differs from Twilio's: set ``CALMWATCH_TWILIO_WEBHOOK_URL``. Twilio
signs no timestamp, so replays are caught by the dedupe of message sids.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.connectors.base import (
    Delivery,
    Parsed,
    Request,
    SignedConnector,
    iso,
    party,
    safe_id,
    turn_events,
    turn_text,
)
from monitor.connectors.signatures import check_equal, hmac_base64, require_header
from monitor.errors import IngestError
from monitor.ingest import ConversationEnd
from monitor.schemas import ChatMessage, Role

NAME = "twilio"
_ADDRESS_PREFIXES = ("+", "whatsapp:", "messenger:", "sms:", "gbm:")


def signed_string(url: str, form: Sequence[tuple[str, str]]) -> bytes:
    return (url + "".join(k + v for k, v in sorted(form))).encode()


class TwilioConnector(SignedConnector):
    name = NAME

    def __init__(self, auth_token: str | None, *, public_url: str | None, agents: Sequence[str] = ()) -> None:
        super().__init__(auth_token)
        self._public_url = public_url
        self._agents = frozenset(agents)

    def verify(self, request: Request, *, now: float) -> None:
        given = require_header(request.headers, "X-Twilio-Signature")
        url = self._public_url or request.url
        check_equal(given, hmac_base64(self.secret, signed_string(url, request.form)), header="X-Twilio-Signature")

    def is_agent(self, author: str) -> bool:
        if self._agents:
            return author in self._agents
        return not author.startswith(_ADDRESS_PREFIXES)

    def parse(self, request: Request) -> Parsed:
        if not request.form and request.body:
            raise IngestError("invalid_event", "Twilio webhooks are form-encoded (application/x-www-form-urlencoded)")
        form = dict(request.form)
        event = form.get("EventType", "")
        cid = safe_id(NAME, form.get("ConversationSid", "unknown"))
        if event == "onConversationStateUpdated":
            key = f"state:{form.get('ConversationSid')}:{form.get('StateTo')}"
            if form.get("StateTo") != "closed":
                return Parsed([Delivery(key, [], ignored=f"state {form.get('StateTo')!r} is not an end")])
            return Parsed([Delivery(key, [ConversationEnd(conversation_id=cid)])])
        key = f"message:{form.get('MessageSid')}"
        if event != "onMessageAdded":
            return Parsed([Delivery(key, [], ignored=f"event {event!r} is not one Calmwatch reads")])
        text = turn_text(form.get("Body"))
        if text is None:
            return Parsed([Delivery(key, [], ignored="no text (media only)")])
        author = form.get("Author") or "unknown"
        role: Role = "agent" if self.is_agent(author) else "customer"
        turn = ChatMessage(
            conversation_id=cid,
            message_id=safe_id(NAME, form.get("MessageSid", "unknown")),
            role=role,
            text=text,
            sent_at=iso(form.get("DateCreated")),
        )
        channel = (form.get("Source") or NAME).lower()[:64]
        speaker = party(NAME, role, author)
        return Parsed(
            [
                Delivery(
                    key, turn_events(conversation_id=cid, message=turn, speaker=speaker, channel=channel, platform=NAME)
                )
            ]
        )
