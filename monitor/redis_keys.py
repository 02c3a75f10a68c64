"""Every Redis key, stream and channel name Calmwatch uses, in one place.

All keys share the ``cw:`` prefix so a shared Redis can be inspected (``SCAN MATCH cw:*``) or cleaned safely.
Per-conversation keys carry the conversation id in a hash tag (``{...}``) so that, on Redis Cluster, all of
one conversation's keys land in one slot and can be written in one MULTI.
"""

from __future__ import annotations

import json

PREFIX = "cw:"

#: Stream of every alert ever raised (XADD ... MAXLEN ~ N); the entry id is the alert id.
ALERTS_STREAM = f"{PREFIX}alerts"
#: Pub/sub channel for live fan-out to the websocket clients of every service process. Messages are JSON
#: envelopes ``{"type": "alert" | "turn" | ..., ...}``; losing one is harmless because alerts resume from the stream.
LIVE_CHANNEL = f"{PREFIX}live"
#: Sorted set: active conversation id -> current risk, for the supervisor board.
ACTIVE_CONVERSATIONS = f"{PREFIX}active"
#: Hash: conversation id -> the turn ticket its board risk was last written by, so a late board write of an
#: earlier turn (another process) never overwrites a newer risk. The hash tag puts it in the board's slot.
BOARD_TURNS = f"{PREFIX}active-turn:{{{ACTIVE_CONVERSATIONS}}}"
#: Hash: alert id -> JSON ``{"alert_id", "by", "at"}``; a supervisor's acknowledgement, seen by every console.
ALERT_ACKS = f"{PREFIX}alert-acks"

# --- feedback, reports and rule overrides (issue 18)
#: Hash: alert id -> JSON Feedback, the latest verdict on each alert (pruned with the alert stream).
ALERT_FEEDBACK = f"{PREFIX}{{feedback}}:latest"
#: Stream of every verdict ever given (XADD ... MAXLEN ~ N), so a changed mind is kept, not overwritten. It
#: shares the ``{feedback}`` hash tag with ALERT_FEEDBACK: both are written in one MULTI, on Redis Cluster too.
FEEDBACK_STREAM = f"{PREFIX}{{feedback}}:log"
#: Stream of rule-pack overrides applied by an admin: who, when, which rule, parameter and value.
RULES_AUDIT = f"{PREFIX}rules-audit"


def conversation(conversation_id: str) -> str:
    """Hash: the conversation's metadata (one JSON field ``meta``)."""
    return f"{PREFIX}conv:{{{conversation_id}}}"


def turns(conversation_id: str) -> str:
    """List of TurnRecord JSON, oldest first."""
    return f"{PREFIX}conv:{{{conversation_id}}}:turns"


def conversation_alerts(conversation_id: str) -> str:
    """List of the alert ids raised in the conversation, oldest first."""
    return f"{PREFIX}conv:{{{conversation_id}}}:alerts"


def rule_firings(conversation_id: str) -> str:
    """Hash: rule id -> JSON ``{"at": epoch seconds, "severity": ...}`` of its last firing (cooldowns)."""
    return f"{PREFIX}conv:{{{conversation_id}}}:firings"


def reply(conversation_id: str, message_id: str) -> str:
    """String: the ScoredReply JSON for a message, so a re-sent message_id gets the same answer."""
    return f"{PREFIX}conv:{{{conversation_id}}}:reply:{message_id}"


def conversation_match(conversation_id: str) -> str:
    """SCAN MATCH pattern of every key of one conversation, present and future (they all start with its
    :func:`conversation` key): what erasure deletes, so a per-conversation key added later is erased too."""
    return glob_escape(conversation(conversation_id)) + "*"


#: SCAN MATCH pattern that finds every conversation's metadata hash (among its other keys; see
#: :func:`conversation_id_of`).
CONVERSATIONS_MATCH = f"{PREFIX}conv:{{*}}"


def conversation_id_of(key: str) -> str | None:
    """The conversation id if ``key`` is a conversation's metadata hash (:func:`conversation`), else None."""
    head, tail = f"{PREFIX}conv:{{", "}"
    if key.startswith(head) and key.endswith(tail) and "}" not in key[len(head) : -1]:
        return key[len(head) : -1]
    return None


def glob_escape(text: str) -> str:
    """``text`` as a literal inside a SCAN MATCH pattern."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def turn_queue(conversation_id: str) -> str:
    """Sorted set: turn ticket -> lease deadline (Redis server time, ms) of each turn waiting or in progress.

    A turn takes the next ticket (``ticket`` in the conversation hash) when it arrives and may commit only when
    every earlier ticket is ``served``; a ticket whose lease ran out (its process died) is skipped."""
    return f"{PREFIX}conv:{{{conversation_id}}}:queue"


def alert_once(alert_key: str) -> str:
    """String: the stream id an alert got, by the key its turn's commit gave it, so publishing it again (after a
    crash between the commit and the stream write) finds the id instead of adding a second entry. The hash tag
    is the stream's own name, so the key lives in the stream's cluster slot and both are written by one script."""
    return f"{PREFIX}alert-once:{{{ALERTS_STREAM}}}:{alert_key}"


def alert_key(conversation_id: str, message_id: str, index: int) -> str:
    """The key a turn's commit gives its ``index``-th alert (see :func:`alert_once`): JSON, so no id can make two
    alerts' keys collide."""
    return json.dumps([conversation_id, message_id, index], separators=(",", ":"))


def alert_once_match(conversation_id: str) -> str:
    """SCAN MATCH pattern of the :func:`alert_once` keys of one conversation's alerts (erasure removes them)."""
    return glob_escape(alert_once(f"[{json.dumps(conversation_id)},")) + "*"


def conversation_keys(conversation_id: str) -> list[str]:
    """The keys whose TTL is refreshed together on every turn (reply keys carry their own TTL)."""
    return [
        conversation(conversation_id),
        turns(conversation_id),
        conversation_alerts(conversation_id),
        rule_firings(conversation_id),
        turn_queue(conversation_id),
    ]


# --- privacy (monitor/privacy/)
#: Hash: alert id -> JSON of an erased alert without anything that identifies the conversation or quotes it
#: (rule, severity, audience, agent id, created_at, erased_at), so reports still count it.
ERASED_ALERTS = f"{PREFIX}alerts:erased"
#: Stream of audit events (who erased what, when); never trimmed by Calmwatch.
AUDIT_STREAM = f"{PREFIX}audit"


# --- access (monitor/auth/)
#: Hash: sha256 hex of an API key -> JSON key record (id, role, agent_id, name, created_at). Keys are never stored.
API_KEYS = f"{PREFIX}{{auth}}:keys"
#: Hash: key id -> sha256 hex of the key, so a key can be revoked (and its tokens refused) by id. Both hashes
#: share the ``{auth}`` hash tag so that creating and revoking a key is one MULTI, on Redis Cluster too.
API_KEY_IDS = f"{PREFIX}{{auth}}:key-ids"
#: String: the random secret that signs short-lived tokens, shared by every service process (SET NX at start).
TOKEN_SECRET = f"{PREFIX}auth:token-secret"


def rate_limit(key_id: str) -> str:
    """Hash ``{tokens, ts}``: the ingest token bucket of one API key (expires when full again)."""
    return f"{PREFIX}ratelimit:{key_id}"


# --- webhooks (monitor/delivery/webhooks/)
#: Hash: endpoint id -> endpoint JSON (url, events, filters, secrets, health).
WEBHOOKS = f"{PREFIX}webhooks"
#: Consumer group on ALERTS_STREAM that turns alerts into queued deliveries (XACK only once they are queued).
WEBHOOK_GROUP = "webhooks"


def webhook_due(endpoint_id: str) -> str:
    """Sorted set: delivery id -> epoch seconds it is due (or until when an attempt in flight holds it)."""
    return f"{PREFIX}wh:{{{endpoint_id}}}:due"


def webhook_deliveries(endpoint_id: str) -> str:
    """Sorted set: delivery id -> creation time, the endpoint's delivery log (trimmed to the newest)."""
    return f"{PREFIX}wh:{{{endpoint_id}}}:deliveries"


def webhook_delivery(endpoint_id: str, delivery_id: str) -> str:
    """Hash: ``meta`` (JSON state of one delivery) and ``body`` (the exact bytes sent on every attempt)."""
    return f"{PREFIX}wh:{{{endpoint_id}}}:delivery:{delivery_id}"


def webhook_attempts(endpoint_id: str, delivery_id: str) -> str:
    """List of attempt JSON (at, status, latency_ms, error), oldest first."""
    return f"{PREFIX}wh:{{{endpoint_id}}}:attempts:{delivery_id}"


# --- connectors (monitor/connectors/, issue 17)
#: Stream of acknowledged platform webhooks turned into Calmwatch events, waiting to be scored (XADD MAXLEN ~).
CONNECTOR_EVENTS = f"{PREFIX}connector-events"
#: Consumer group on CONNECTOR_EVENTS that feeds the pipeline (XACK once an entry's events are processed).
CONNECTOR_GROUP = "connectors"
#: Stream of connector entries that could not be processed (bad data: kept with the reason, never retried).
CONNECTOR_DEAD = f"{PREFIX}connector-dead"


def connector_seen(platform: str, delivery_id: str) -> str:
    """String with a TTL: this platform delivery (or message) was queued already; re-deliveries are dropped."""
    return f"{PREFIX}connector:{platform}:seen:{delivery_id}"


#: Consumer group on ALERTS_STREAM that turns alerts of Chatwoot conversations into queued private notes.
CHATWOOT_NOTES_GROUP = "chatwoot-notes"
#: Sorted set: note id (the alert id) -> epoch seconds it is due (or until when an attempt in flight holds it).
CHATWOOT_NOTES_DUE = f"{PREFIX}chatwoot:notes:due"


def chatwoot_note(note_id: str) -> str:
    """String: JSON state of one private note (the alert, attempts, status, Chatwoot's message id once posted)."""
    return f"{PREFIX}chatwoot:note:{note_id}"


def chatwoot_last_note(conversation_id: str) -> str:
    """String: epoch seconds the conversation's last note was posted or reserved (the per-conversation rate limit)."""
    return f"{PREFIX}chatwoot:last-note:{{{conversation_id}}}"
