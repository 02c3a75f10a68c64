"""The webhook retry policy, as the pure function it is: no Redis, no HTTP, no clock."""

from __future__ import annotations

import pytest

from monitor.delivery.webhooks.retry import JITTER, next_attempt_at
from monitor.settings import Settings

SCHEDULE = [5.0, 300.0, 1800.0]


def no_jitter(low: float, high: float) -> float:
    return 1.0


def test_each_retry_waits_the_schedules_next_delay() -> None:
    """With no jitter drawn, retry n is due exactly schedule[n] seconds after now."""
    assert next_attempt_at(0, SCHEDULE, now=1000.0, uniform=no_jitter) == 1005.0
    assert next_attempt_at(1, SCHEDULE, now=1000.0, uniform=no_jitter) == 1300.0
    assert next_attempt_at(2, SCHEDULE, now=1000.0, uniform=no_jitter) == 2800.0


def test_no_retry_once_the_schedule_is_used_up() -> None:
    """After the last delay, and with an empty schedule, there is no next attempt."""
    assert next_attempt_at(3, SCHEDULE, now=1000.0) is None
    assert next_attempt_at(0, [], now=1000.0) is None


@pytest.mark.parametrize("factor", [1 - JITTER, 1 + JITTER])
def test_jitter_stays_within_twenty_percent(factor: float) -> None:
    """The jitter factor is drawn from [0.8, 1.2], and the delay is scaled by exactly what was drawn."""
    drawn: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        drawn.append((low, high))
        return factor

    assert next_attempt_at(1, SCHEDULE, now=0.0, uniform=uniform) == pytest.approx(300.0 * factor)
    assert drawn == [(pytest.approx(0.8), pytest.approx(1.2))]


def test_real_draws_fall_inside_the_jitter_band() -> None:
    """With the default random draw, every due time lies within +-20 % of the delay."""
    for _ in range(200):
        due = next_attempt_at(0, SCHEDULE, now=0.0)
        assert due is not None and 5.0 * 0.8 <= due <= 5.0 * 1.2


def test_default_schedule_ends_about_28_hours_after_the_alert() -> None:
    """The default schedule, fed through the policy without jitter, puts the last attempt 27-29 hours out."""
    schedule = Settings().webhook_retry_schedule_s
    now, retries = 0.0, 0
    while (due := next_attempt_at(retries, schedule, now=now, uniform=no_jitter)) is not None:
        now, retries = due, retries + 1
    assert retries == len(schedule) == 7
    assert 27 * 3600 < now < 29 * 3600


def test_default_retry_schedule_reaches_hours() -> None:
    """The documented default: 7 retries after the first attempt, the last about 28 hours after the event."""
    from monitor.settings import Settings

    schedule = Settings().webhook_retry_schedule_s
    assert schedule == [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    assert 27 * 3600 < sum(schedule) < 29 * 3600
