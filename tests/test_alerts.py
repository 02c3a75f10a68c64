"""Unit tests of the alert stage's cooldown rule and stream-id helpers."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.alerts import is_stream_id, should_fire, stream_id_key
from monitor.schemas import AlertCandidate, Severity


def candidate(severity: Severity = "warning", cooldown_s: float = 60) -> AlertCandidate:
    return AlertCandidate(
        rule="anger",
        severity=severity,
        audience=["agent"],
        nudge="n",
        reason="r",  # type: ignore[arg-type]
        cooldown_s=cooldown_s,
    )


def test_cooldown_suppresses_repeats_unless_severity_rises() -> None:
    """Inside the cooldown the same severity is suppressed, a higher one fires; after it, anything fires."""
    now = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
    last = {"at": datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp(), "severity": "warning"}
    assert should_fire(candidate(), None, now)
    assert not should_fire(candidate("warning"), last, now)
    assert not should_fire(candidate("info"), last, now)
    assert should_fire(candidate("critical"), last, now)
    assert should_fire(candidate("warning", cooldown_s=30), last, now)


def test_stream_ids_order_numerically() -> None:
    """Alert ids compare as (milliseconds, sequence), not as strings."""
    assert stream_id_key("999-5") < stream_id_key("1000-0") < stream_id_key("1000-1")
    assert is_stream_id("1700000000000-0") and is_stream_id("0") and not is_stream_id("abc")
