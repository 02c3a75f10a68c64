"""The rule-pack override file the service writes when an admin applies a threshold suggestion, and its audit.

The file is an ordinary pack file (``rules: [{id, params: {...}}]``, see :mod:`monitor.rules.loader`) loaded
after the configured packs, so it overrides their parameters and nothing else. Each change is checked by
loading the whole pack with it *before* the file is replaced (atomically: written beside it, then renamed),
so a bad value never reaches the running rules; then the reloader installs the new engine, and the change is
appended to the ``cw:rules-audit`` stream with who made it and when. The file's header names the last change
too, for whoever opens it on disk.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from redis.asyncio import Redis

from monitor import redis_keys as keys
from monitor.errors import RulePackError
from monitor.rules.loader import load_rule_pack
from monitor.schemas import utcnow

_HEADER = (
    "# Written by Calmwatch when an admin applies a threshold suggestion (reports page or\n"
    "# POST /v1/rules/overrides). Loaded after the configured rule packs. Every change is in the audit\n"
    "# log (GET /v1/rules/overrides/audit). Last change: {what} by {who} at {at}.\n"
)


class OverrideChange(BaseModel):
    """One applied change, as the audit log keeps it."""

    rule: str
    param: str
    old: float | None
    new: float
    by: str
    key_id: str
    at: datetime
    reason: str = ""


def pack_paths(configured: Sequence[Path], override: Path) -> list[Path]:
    """The paths the service loads: the configured packs, then the override file if it exists."""
    return [*configured, override] if override.is_file() else list(configured)


def read_overrides(path: Path) -> dict[str, dict[str, Any]]:
    """Rule id -> its parameter overrides, as the file holds them (empty when there is no file)."""
    if not path.is_file():
        return {}
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(r["id"]): dict(r.get("params") or {}) for r in raw.get("rules", []) if isinstance(r, dict)}


def write_override(configured: Sequence[Path], path: Path, change: OverrideChange) -> None:
    """Add or replace one parameter of one rule in the override file; raises ``RulePackError`` if the pack
    would not load with it (the file is then left as it was)."""
    overrides = read_overrides(path)
    overrides.setdefault(change.rule, {})[change.param] = change.new
    body = {
        "version": 1,
        "description": "threshold overrides applied by an admin from feedback",
        "rules": [{"id": rule, "params": params} for rule, params in sorted(overrides.items())],
    }
    header = _HEADER.format(
        what=f"{change.rule}.{change.param} = {change.new:g}", who=change.by, at=change.at.isoformat(timespec="seconds")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    trial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    trial.write_text(header + yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    try:
        load_rule_pack([*configured, trial])
    except RulePackError:
        trial.unlink(missing_ok=True)
        raise
    os.replace(trial, path)


class OverrideAudit:
    """The audit log of applied overrides, in Redis (a stream, newest kept)."""

    def __init__(self, redis: Redis, *, max_entries: int = 10_000) -> None:
        self._redis = redis
        self._max_entries = max_entries

    async def record(self, change: OverrideChange) -> None:
        await self._redis.xadd(
            keys.RULES_AUDIT, {"change": change.model_dump_json()}, maxlen=self._max_entries, approximate=True
        )

    async def entries(self, *, limit: int = 100) -> list[OverrideChange]:
        """The newest changes, newest first."""
        raw: Any = await self._redis.xrevrange(keys.RULES_AUDIT, count=limit)  # loosely typed by redis-py
        return [OverrideChange.model_validate_json(fields["change"]) for _, fields in raw or []]


def new_change(
    rule: str, param: str, old: float | None, new: float, *, by: str, key_id: str, reason: str
) -> OverrideChange:
    """A change made now (its ``at`` is the audit's "when")."""
    return OverrideChange(rule=rule, param=param, old=old, new=new, by=by, key_id=key_id, at=utcnow(), reason=reason)
