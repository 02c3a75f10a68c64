"""Issue 20, item 7: a connector that sends faster than the service scores keeps its connection: the service
keeps reading (so keepalive pings are answered) and answers what it cannot take now with ``overloaded``."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.faults.processes import PEOPLE, Service
from tests.faults.traffic import CUSTOMER

HEAVY = (" ".join(CUSTOMER) * 20)[:1000]  # a turn that costs the rules and VADER their whole budget
MESSAGES, CONVERSATIONS = 4000, 50


async def _flood(url: str) -> Counter[str]:
    """Send every message at once while reading answers; client keepalive pings must be answered throughout."""
    answers: Counter[str] = Counter()
    async with connect(url, ping_interval=0.5, ping_timeout=3, max_queue=None, open_timeout=10) as ws:
        for c in range(CONVERSATIONS):
            await ws.send(json.dumps({"type": "conversation.start", "conversation_id": f"c{c}", **PEOPLE}))

        async def read() -> None:
            for _ in range(MESSAGES + CONVERSATIONS):
                answer: dict[str, Any] = json.loads(await ws.recv())
                unnamed = answer.get("code") == "overloaded" and "message_id" not in answer
                answers["overloaded without its message_id" if unnamed else answer.get("code") or answer["type"]] += 1

        reader = asyncio.create_task(read())
        for i in range(MESSAGES):
            event = {"type": "message", "conversation_id": f"c{i % CONVERSATIONS}", "message_id": f"m{i}",
                     "role": "customer", "text": HEAVY}  # fmt: skip
            await ws.send(json.dumps(event))
        await asyncio.wait_for(reader, timeout=60)
    return answers


@pytest.mark.slow
def test_a_flooding_connector_keeps_its_connection_and_gets_every_answer() -> None:
    """4,000 heavy events at once with 0.5 s client pings: no keepalive timeout, one answer per event."""
    with tempfile.TemporaryDirectory(prefix="cw-", dir="/tmp") as tmp, Service(Path(tmp)) as service:
        answers = asyncio.run(_flood(f"{service.ws}/v1/stream"))
    assert sum(answers.values()) == MESSAGES + CONVERSATIONS, answers
    assert answers["scored"] > 0 and answers["overloaded"] > 0, answers  # both paths were taken
    assert answers["overloaded without its message_id"] == 0, "a connector must know which turn to resend"
