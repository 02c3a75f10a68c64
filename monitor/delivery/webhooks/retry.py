"""When a failed delivery is tried again: the retry policy, as one pure function.

The delays come from ``webhook_retry_schedule_s`` (default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: the last
attempt is about 28 hours after the alert). Each delay gets +-20 % jitter, so the deliveries that failed
together while a receiver was down do not all hit it again in the same second when it recovers.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

#: Each delay is stretched or shrunk by up to this fraction.
JITTER = 0.2


def next_attempt_at(
    retries_used: int,
    schedule: Sequence[float],
    *,
    now: float,
    uniform: Callable[[float, float], float] = random.uniform,
) -> float | None:
    """Epoch seconds of the next attempt after a failure, or ``None`` when the schedule is used up.

    ``retries_used`` is how many retries the delivery has had (its position in ``schedule``); ``uniform`` draws
    the jitter factor (tests pass a fixed one).
    """
    if retries_used >= len(schedule):
        return None
    return now + schedule[retries_used] * uniform(1 - JITTER, 1 + JITTER)
