"""Deterministic chat traffic for fault tests, played over ``/v1/stream`` with many events in flight.

The same events always give the same turns and alerts (explicit ``sent_at``, the VADER scorer, cooldowns far
longer than a test), so a run with a fault can be compared with a clean run item by item.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.faults.processes import PEOPLE

CUSTOMER = [
    "Hi, my order has not arrived yet.",
    "I am still waiting, this is the third time I ask!",
    "This is absolutely terrible, I hate this useless service.",
    "WHY IS NOBODY HELPING ME, THIS IS RIDICULOUS",
    "This is damn shit, you idiots, I am furious",
    "Ok thanks, that helps a lot.",
]
AGENT = [
    "I'm sorry for the inconvenience.",
    "Let me check that for you.",
    "I'm sorry for the inconvenience.",
    "Ana, I understand, I will fix this right now.",
]
EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def conversation_events(conversations: int, turns: int, *, prefix: str = "c") -> list[dict[str, Any]]:
    """Starts for every conversation, then their turns interleaved round-robin (so many are in flight at once)."""
    events: list[dict[str, Any]] = [
        {"type": "conversation.start", "conversation_id": f"{prefix}{c}", **PEOPLE} for c in range(conversations)
    ]
    for t in range(turns):
        for c in range(conversations):
            role = "customer" if t % 2 == 0 else "agent"
            pool = CUSTOMER if role == "customer" else AGENT
            events.append(
                {
                    "type": "message",
                    "conversation_id": f"{prefix}{c}",
                    "message_id": f"m{t}",
                    "role": role,
                    "text": pool[(t // 2 + c) % len(pool)],
                    "sent_at": (EPOCH + timedelta(seconds=30 * t + c)).isoformat(),
                }
            )
    return events


async def play(
    url: str,
    events: list[dict[str, Any]],
    *,
    in_flight: int = 256,
    after_answers: int | None = None,
    then: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """Send ``events`` keeping up to ``in_flight`` unanswered; the answers, in order (one per event answered).

    With ``after_answers``, ``then()`` is called once that many answers are in (e.g. to SIGKILL the service)
    and the answers received until the connection drops are returned."""
    answers: list[dict[str, Any]] = []
    async with connect(url, max_size=2**22, open_timeout=10) as ws:
        sent = 0
        try:
            while len(answers) < len(events):
                while sent < len(events) and sent - len(answers) < in_flight:
                    await ws.send(json.dumps(events[sent]))
                    sent += 1
                answers.append(json.loads(await ws.recv()))
                if after_answers is not None and len(answers) == after_answers and then is not None:
                    then()
        except ConnectionClosed:
            if then is None:
                raise
    return answers


def play_sync(url: str, events: list[dict[str, Any]], **kwargs: Any) -> list[dict[str, Any]]:
    return asyncio.run(play(url, events, **kwargs))


def all_alerts(base: str) -> list[dict[str, Any]]:
    """Every alert in the stream, oldest first, paging with ``since``."""
    out: list[dict[str, Any]] = []
    cursor = "0"
    while True:
        page = httpx.get(f"{base}/v1/alerts", params={"since": cursor, "limit": 1000}, timeout=10).json()
        out.extend(page)
        if len(page) < 1000:
            return out
        cursor = page[-1]["id"]


def alert_key(alert: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """What an alert means, without its id and creation time (which differ between two runs)."""
    return alert["conversation_id"], alert["message_id"], alert["rule"], alert["severity"], alert["reason"]


def outcome(base: str, conversation_ids: list[str]) -> tuple[dict[str, list[Any]], Counter[tuple[str, ...]]]:
    """Each conversation's stored turns (message id, role, text, scores) and the multiset of alerts."""
    turns: dict[str, list[Any]] = {}
    for cid in conversation_ids:
        detail = httpx.get(f"{base}/v1/conversations/{cid}", timeout=10).json()
        turns[cid] = [(t["message_id"], t["role"], t["text"], t["scores"]) for t in detail["turns"]]
    return turns, Counter(alert_key(a) for a in all_alerts(base))
