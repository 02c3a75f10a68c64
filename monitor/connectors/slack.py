"""Slack Events API: ``message`` events (``event_callback``) and the ``url_verification`` handshake.

A conversation is a thread: ``slack:<team>:<channel>:<thread_ts>`` (a top-level message starts one, keyed by
its own ``ts``), or the whole channel for a direct message (``channel_type`` ``im``). Users listed in
``CALMWATCH_SLACK_AGENT_USER_IDS`` are agents, every other user a customer. Messages with a ``subtype``
(edits, joins, bot messages) or a ``bot_id`` are not turns. ``ts`` is the time (epoch seconds); Slack events
carry user ids, not names. The signature is ``X-Slack-Signature: v0=<hex>``, HMAC-SHA256 with the app's
signing secret over ``"v0:{X-Slack-Request-Timestamp}:{raw body}"``; stale timestamps are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.connectors.base import (
    Delivery,
    Parsed,
    Request,
    SignedConnector,
    as_dict,
    epoch,
    party,
    safe_id,
    turn_events,
    turn_text,
)
from monitor.connectors.signatures import check_equal, check_fresh, hmac_hex, require_header
from monitor.ingest import decode_json_object
from monitor.schemas import ChatMessage, Role

NAME = "slack"


class SlackConnector(SignedConnector):
    name = NAME

    def __init__(self, secret: str | None, *, agents: Sequence[str], tolerance_s: float) -> None:
        super().__init__(secret)
        self._agents = frozenset(agents)
        self._tolerance_s = tolerance_s

    def verify(self, request: Request, *, now: float) -> None:
        timestamp = require_header(request.headers, "X-Slack-Request-Timestamp")
        given = require_header(request.headers, "X-Slack-Signature")
        check_fresh(timestamp, now=now, tolerance_s=self._tolerance_s, header="X-Slack-Request-Timestamp")
        expected = "v0=" + hmac_hex(self.secret, f"v0:{timestamp}:".encode() + request.body)
        check_equal(given, expected, header="X-Slack-Signature")

    def parse(self, request: Request) -> Parsed:
        payload = decode_json_object(request.body)
        kind = payload.get("type")
        if kind == "url_verification":
            return Parsed([], reply={"challenge": str(payload.get("challenge", ""))})
        key = str(payload.get("event_id"))
        if kind != "event_callback":
            return Parsed([Delivery(key, [], ignored=f"type {kind!r}")])
        return Parsed([self._message(key, str(payload.get("team_id", "team")), as_dict(payload.get("event")))])

    def _message(self, key: str, team: str, event: dict[str, Any]) -> Delivery:
        if event.get("type") != "message":
            return Delivery(key, [], ignored=f"event {event.get('type')!r} is not a message")
        if event.get("subtype") or event.get("bot_id"):
            return Delivery(key, [], ignored=f"{event.get('subtype') or 'bot'} message, not a chat turn")
        text = turn_text(event.get("text"))
        user = event.get("user")
        if text is None or not user:
            return Delivery(key, [], ignored="no text or no user")
        channel, ts = event.get("channel"), event.get("ts")
        if event.get("channel_type") == "im":
            cid = safe_id(NAME, team, channel)
        else:
            cid = safe_id(NAME, team, channel, event.get("thread_ts") or ts)
        role: Role = "agent" if user in self._agents else "customer"
        turn = ChatMessage(
            conversation_id=cid,
            message_id=safe_id(NAME, channel, ts),
            role=role,
            text=text,
            sent_at=epoch(ts),
        )
        speaker = party(NAME, "user", user)
        return Delivery(
            key, turn_events(conversation_id=cid, message=turn, speaker=speaker, channel=NAME, platform=NAME)
        )
