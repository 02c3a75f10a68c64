"""Issue 20, item 1: a service SIGKILLed mid-stream, then the unanswered events re-sent, ends as a clean run does."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.faults.processes import Service
from tests.faults.traffic import conversation_events, outcome, play_sync

CONVERSATIONS, TURNS = 40, 20  # 800 messages, 256 in flight


def _reply_view(answer: dict[str, object]) -> object:
    """A reply as the connector sees it, without the alert ids (which differ between two runs)."""
    alerts = answer.get("alerts") or []
    assert isinstance(alerts, list)
    rules = sorted((a["rule"], a["severity"]) for a in alerts)
    return answer.get("type"), answer.get("message_id"), answer.get("scores"), answer.get("risk"), rules


@pytest.mark.slow
def test_kill_mid_stream_then_resend_equals_a_clean_run() -> None:
    """kill -9 with 256 events in flight, resend the unanswered ones: same turns, alerts and replies as a clean run."""
    events = conversation_events(CONVERSATIONS, TURNS)
    cids = [f"c{c}" for c in range(CONVERSATIONS)]
    with tempfile.TemporaryDirectory(prefix="cw-", dir="/tmp") as tmp:
        with Service(Path(tmp) / "clean") as clean:
            clean_answers = play_sync(f"{clean.ws}/v1/stream", events)
            clean_turns, clean_alerts = outcome(clean.http, cids)

        crashed = Service(Path(tmp) / "crash").start()
        before = play_sync(f"{crashed.ws}/v1/stream", events, after_answers=400, then=crashed.kill)
        assert 400 <= len(before) < len(events), "the kill must land mid-stream"
        with Service(Path(tmp) / "crash") as restarted:  # same state dir: the embedded server's data survives
            after = play_sync(f"{restarted.ws}/v1/stream", events[len(before) :])
            turns, alerts = outcome(restarted.http, cids)

    assert all(len({t[0] for t in ts}) == len(ts) for ts in turns.values()), "a turn was stored twice"
    assert turns == clean_turns
    assert alerts == clean_alerts
    assert sum(clean_alerts.values()) > 100  # the traffic really raises alerts, so the comparison means something
    assert [_reply_view(a) for a in before + after] == [_reply_view(a) for a in clean_answers]
