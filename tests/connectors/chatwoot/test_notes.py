"""Private notes against a fake Chatwoot API and a real Redis: which alerts get one, once, and the rate limit."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from monitor.connectors.chatwoot import ChatwootApi, ChatwootNotes, note_text
from monitor.runtime import redis_client
from monitor.schemas import Alert, Severity
from tests.conftest import make_settings
from tests.connectors.fake_chatwoot import TOKEN, FakeChatwoot, fake_chatwoot
from tests.fakes import SwallowsOneCancellation

__all__ = ["fake_chatwoot"]


def alert(alert_id: str, severity: Severity = "warning", conversation_id: str = "chatwoot:2:41") -> Alert:
    return Alert(
        id=alert_id,
        rule="anger",
        severity=severity,
        conversation_id=conversation_id,
        message_id="chatwoot:9001",
        agent_id="chatwoot:2:agent:7",
        audience=["agent"],
        nudge="Acknowledge the delay before explaining it.",
        reason="anger 0.95 on the customer's last turn",
        created_at=datetime(2026, 11, 30, 9, 13, tzinfo=UTC),
    )


@pytest.fixture
async def notes(flushed_redis: str, fake_chatwoot: FakeChatwoot) -> AsyncIterator[ChatwootNotes]:
    settings = make_settings(flushed_redis, chatwoot_note_interval_s=3600.0, chatwoot_note_min_severity="warning")
    redis = redis_client(flushed_redis)
    api = ChatwootApi(fake_chatwoot.url, TOKEN)
    try:
        yield ChatwootNotes(redis, settings, api)
    finally:
        await api.aclose()
        await redis.aclose()


async def test_only_chatwoot_alerts_at_the_severity_get_a_note_and_only_once(notes: ChatwootNotes) -> None:
    """An info alert, another platform's alert and a repeat of a queued alert queue nothing."""
    assert await notes.queue_alert(alert("1-0"))
    assert not await notes.queue_alert(alert("1-0"))
    assert not await notes.queue_alert(alert("2-0", severity="info"))
    assert not await notes.queue_alert(alert("3-0", conversation_id="slack:T1:C1:1.0"))


async def test_second_note_of_a_conversation_waits_for_its_slot(
    notes: ChatwootNotes, fake_chatwoot: FakeChatwoot
) -> None:
    """With a 1 h interval the first note is posted and the second is rescheduled an hour on, not dropped."""
    await notes.queue_alert(alert("1-0"))
    await notes.queue_alert(alert("2-0", severity="critical"))
    before = time.time()
    await notes.attempt("1-0")
    await notes.attempt("2-0")
    assert [n["body"]["content"] for n in fake_chatwoot.notes] == [note_text(alert("1-0"))]
    first = await notes.note("1-0")
    assert (
        first is not None
        and first.status == "posted"
        and first.chatwoot_message_id == str(fake_chatwoot.notes[0]["id"])
    )
    due = await notes.due_at("2-0")
    assert due is not None and due >= before + 3600
    second = await notes.note("2-0")
    assert second is not None and second.status == "pending" and second.attempts == 0
    # another conversation is not held up by this one's limit
    await notes.queue_alert(alert("3-0", conversation_id="chatwoot:2:42"))
    await notes.attempt("3-0")
    assert [n["conversation"] for n in fake_chatwoot.notes] == ["41", "42"]


async def test_a_refused_token_fails_the_note_at_once(flushed_redis: str, fake_chatwoot: FakeChatwoot) -> None:
    """A 401 cannot get better by retrying: the note is failed with Chatwoot's answer, not rescheduled."""
    redis = redis_client(flushed_redis)
    api = ChatwootApi(fake_chatwoot.url, "wrong-token")
    try:
        bad = ChatwootNotes(redis, make_settings(flushed_redis), api)
        await bad.queue_alert(alert("1-0"))
        await bad.attempt("1-0")
        state = await bad.note("1-0")
        assert state is not None and state.status == "failed" and "401" in (state.last_error or "")
        assert await bad.due_at("1-0") is None and fake_chatwoot.unauthorized == 1
    finally:
        await api.aclose()
        await redis.aclose()


async def test_a_cancelled_run_leaves_no_loop_behind(notes: ChatwootNotes, monkeypatch: pytest.MonkeyPatch) -> None:
    """The send loop swallows its cancellation inside a claim (redis-py can: see monitor.background). When
    ``run`` returns, both loops have ended; none is left posting notes on a client its caller closes next."""
    import asyncio

    claim = SwallowsOneCancellation(notes._claim)
    monkeypatch.setattr(notes, "_claim", claim)
    await notes.start()
    running = asyncio.create_task(notes.run())
    await claim.cancel_inside(running)
    still_running = [
        t for t in asyncio.all_tasks() if getattr(t.get_coro(), "__qualname__", "").startswith("ChatwootNotes._")
    ]
    notes.stopping.set()  # so that a loop left behind (the failure) ends before the fixture closes its clients
    if still_running:
        await asyncio.wait(still_running, timeout=5)
    assert still_running == []
