"""The alert stage: cooldowns and the alert body as pure functions, and the alert stream read back.

An alert is an entry of the ``cw:alerts`` Redis Stream; its stream id is the alert id, so ids are unique,
ordered by time, and usable as a resume cursor (``?since=<id>``). The stream entry is written by the turn's
one commit (:meth:`monitor.state.ConversationStore.commit_turn`), together with everything else the turn
changes, and only then announced live (:mod:`monitor.live`); a client that missed the announcement resumes
from the stream, so pub/sub loss never means alert loss.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from monitor import redis_keys as keys
from monitor.schemas import SEVERITY_RANK, Alert, AlertCandidate, ConversationMeta, Severity, TurnRecord

# ASCII digits only (``\d`` also matches other scripts' digits, which Redis refuses), at most 20 each side.
#: A stream id as a JSON-schema pattern (what the OpenAPI document gives for ``since``): 19 digits a side at
#: most, so every id the pattern allows is below 2^64 (:func:`is_stream_id` also takes the 20-digit rest).
STREAM_ID_PATTERN = r"^[0-9]{1,19}(-[0-9]{1,19})?$"
_STREAM_ID = re.compile(r"([0-9]{1,20})(?:-([0-9]{1,20}))?")
#: Both parts of a stream id are unsigned 64-bit numbers; Redis answers an error for anything larger.
_MAX_ID_PART = 2**64 - 1


def is_stream_id(value: str) -> bool:
    """True for a Redis Stream id Redis accepts (``1700000000000-0``, or just the millisecond part)."""
    match = _STREAM_ID.fullmatch(value)
    return match is not None and all(int(part) <= _MAX_ID_PART for part in match.groups("0"))


def stream_id_key(alert_id: str) -> tuple[int, int]:
    """Sort key for stream ids, which do not order correctly as strings."""
    ms, _, seq = alert_id.partition("-")
    return int(ms), int(seq or 0)


class Firing(BaseModel):
    """A rule's last firing in a conversation: what its cooldown is measured from and what it already said.

    ``variants`` are the outcomes (e.g. ``escalate``'s ``rising``, ``threat``) raised in the current cooldown
    window, so a new reason gets through while a repeat of an old one does not. ``critical_at`` is when the rule
    last raised a critical alert here, carried across its later firings, for the hold-back after a critical
    alert. Both default to empty, so firings stored before they existed still read."""

    at: float  # epoch seconds
    severity: Severity
    variants: list[str] = Field(default_factory=list)
    critical_at: float | None = None

    @property
    def last_critical_at(self) -> float | None:
        if self.critical_at is not None:
            return self.critical_at
        return self.at if self.severity == "critical" else None


def _in_cooldown(candidate: AlertCandidate, last: Firing | None, now: datetime) -> bool:
    return last is not None and now.timestamp() - last.at < candidate.cooldown_s


def should_fire(candidate: AlertCandidate, last: Firing | None, now: datetime) -> bool:
    """No alert storms, no lost news: inside the cooldown a rule fires again only if its severity rises or
    it reports a variant (a different reason) not yet raised in that window."""
    if last is None or not _in_cooldown(candidate, last, now):
        return True
    if SEVERITY_RANK[candidate.severity] > SEVERITY_RANK[last.severity]:
        return True
    return candidate.variant is not None and candidate.variant not in last.variants


def next_firing(candidate: AlertCandidate, last: Firing | None, now: datetime) -> Firing:
    """The rule's firing record once ``candidate`` fires: a firing inside the cooldown extends the window and
    keeps what it already raised; one after it starts a new window."""
    at = now.timestamp()
    critical_at = at if candidate.severity == "critical" else (last.last_critical_at if last else None)
    variants = [candidate.variant] if candidate.variant is not None else []
    if last is None or not _in_cooldown(candidate, last, now):
        return Firing(at=at, severity=candidate.severity, variants=variants, critical_at=critical_at)
    severity = max(candidate.severity, last.severity, key=SEVERITY_RANK.__getitem__)
    merged = last.variants + [v for v in variants if v not in last.variants]
    return Firing(at=at, severity=severity, variants=merged, critical_at=critical_at)


def held_back(candidate: AlertCandidate, last_critical_at: float | None, now: datetime) -> bool:
    """After a critical alert the agent has one thing to do; a lower-severity nudge in the same conversation
    waits out the candidate's ``hold_after_critical_s`` (``use_name`` right after ``repeated_abuse`` is noise)."""
    if candidate.severity == "critical" or last_critical_at is None:
        return False
    return now.timestamp() - last_critical_at < candidate.hold_after_critical_s


@dataclass(frozen=True)
class AlertDraft:
    """An alert that passed its cooldown and is about to be committed: everything but its stream id."""

    rule: str
    firing: Firing  # the rule's new last firing, stored with the alert
    body: dict[str, Any]  # the Alert's fields except ``id``, JSON-ready

    def body_json(self) -> str:
        return json.dumps(self.body)

    def with_id(self, alert_id: str) -> Alert:
        return Alert.model_validate({"id": alert_id, **self.body})


def draft_alerts(
    candidates: Sequence[AlertCandidate],
    last_firings: Mapping[str, Firing],
    meta: ConversationMeta,
    turn: TurnRecord,
    now: datetime,
) -> list[AlertDraft]:
    """The candidates that survive their cooldowns and the hold-back after a critical alert raised on an
    earlier turn, as drafts of the alerts to store, in the rules' order. Alerts of the turn that raises the
    critical one still go out: they say what happened on it (anger, abuse) beside what to do now."""
    firing = [c for c in candidates if should_fire(c, last_firings.get(c.rule), now)]
    criticals = [f.last_critical_at for f in last_firings.values() if f.last_critical_at is not None]
    last_critical_at = max(criticals, default=None)
    return [
        AlertDraft(
            rule=candidate.rule,
            firing=next_firing(candidate, last_firings.get(candidate.rule), now),
            body={
                "rule": candidate.rule,
                "severity": candidate.severity,
                "conversation_id": meta.conversation_id,
                "message_id": turn.message_id,
                "agent_id": meta.agent.id,
                "customer_name": meta.customer.name,
                "agent_name": meta.agent.name,
                "audience": candidate.audience,
                "nudge": candidate.nudge,
                "reason": candidate.reason,
                "created_at": now.isoformat(),
            },
        )
        for candidate in firing
        if not held_back(candidate, last_critical_at, now)
    ]


async def prune_older_than_stream(redis: Redis, hash_key: str) -> None:
    """Drop the fields (alert ids) of a per-alert hash that are older than the oldest alert the stream still holds,
    so acknowledgements and feedback never outgrow the alert stream."""
    oldest: Any = await redis.xrange(keys.ALERTS_STREAM, count=1)  # redis-py types stream entries loosely
    if not oldest or oldest[0][0] is None:
        return
    floor = stream_id_key(oldest[0][0])
    held: list[Any] = await redis.hkeys(hash_key)
    stale = [alert_id for alert_id in held if stream_id_key(alert_id) < floor]
    if stale:
        await redis.hdel(hash_key, *stale)


class AlertLog:
    """Reads alerts back from the stream (history, resume, by id).

    ``redis`` must decode responses (``decode_responses=True``): stream ids and fields are text."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def since(self, after_id: str | None, *, limit: int = 100) -> list[Alert]:
        """Alerts after ``after_id`` (exclusive), oldest first; with no cursor, the latest ``limit`` alerts."""
        entries: list[tuple[Any, Any]]  # redis-py types stream entries loosely
        if after_id is None:
            entries = list(reversed(await self._redis.xrevrange(keys.ALERTS_STREAM, count=limit) or []))
        else:
            entries = list(await self._redis.xrange(keys.ALERTS_STREAM, min=f"({after_id}", count=limit) or [])
        return [self.from_entry(entry_id, fields) for entry_id, fields in entries]

    async def get_many(self, alert_ids: Sequence[str]) -> list[Alert]:
        """Alerts by id, in the order given; ids trimmed out of the stream are skipped."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for alert_id in alert_ids:
                pipe.xrange(keys.ALERTS_STREAM, min=alert_id, max=alert_id, count=1)
            results = await pipe.execute()
        return [self.from_entry(*found[0]) for found in results if found]

    @staticmethod
    def from_entry(entry_id: str, fields: dict[str, str]) -> Alert:
        raw = fields.get("alert")
        assert raw is not None, "alert stream entry without an 'alert' field"
        return Alert.model_validate({"id": entry_id, **json.loads(raw)})
