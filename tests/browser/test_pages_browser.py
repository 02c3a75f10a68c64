"""The console and sidebar as a new user meets them (issue 19): sign-in that never confuses, another agent's key,
open mode ending, the state a chat is in now, turns the model did not read, a feed that does not flood, a board
that drops finished chats and tells same-named customers apart, and a layout that holds at 1024 px."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.test_console_browser import ANGRY, Shot, angry, make_keys, opened, start, wait_live
from tests.conftest import LiveServer, make_settings
from tests.fakes import KeywordScorer

pytestmark = pytest.mark.browser

GERMAN = "Das ist eine Frechheit, ich warte seit drei Wochen auf mein Geld."


def say(client: httpx.Client, cid: str, mid: str, text: str, role: str = "customer") -> dict[str, Any]:
    r = client.post("/v1/messages", json={"conversation_id": cid, "message_id": mid, "role": role, "text": text})
    assert r.status_code == 200, r.text
    reply: dict[str, Any] = r.json()
    return reply


def test_console_sign_in_says_only_what_is_true(browser: Browser, flushed_redis: str, screenshot: Shot) -> None:
    """A first visit asks for a key without claiming one was refused and without "No active conversations"
    behind the dialog; an agent's key is refused with its role named; a supervisor key then shows the board."""
    keys = make_keys(flushed_redis, {"supervisor": ("supervisor", None), "a1": ("agent", "a1"), "in": ("ingest", None)})
    with LiveServer(make_settings(flushed_redis), KeywordScorer()) as server:
        with httpx.Client(base_url=server.http, headers={"Authorization": f"Bearer {keys['in']}"}) as client:
            for i in range(3):
                start(client, f"c{i}", agent="a1", name="Maria Lopez")
        with opened(browser, server.http + "/") as console:
            login = console.get_by_role("dialog", name="Sign in")
            expect(login).to_be_visible()
            expect(login.locator(".error")).to_have_count(0)
            assert "not accepted" not in login.inner_text()
            expect(console.locator("#board-empty")).to_be_hidden()
            expect(console.locator("#stat-active")).to_have_text("–")
            login.get_by_label("API key").fill(keys["a1"])
            login.get_by_role("button", name="Continue").click()
            expect(login.locator(".error")).to_contain_text("agent key of agent a1")
            expect(login.locator(".error")).to_contain_text("supervisor or admin key")
            screenshot(console, "console-wrong-role")
            login.get_by_label("API key").fill("cw_not_a_real_key")
            login.get_by_role("button", name="Continue").click()
            expect(login.locator(".error")).to_have_text("That key was not accepted.")
            login.get_by_label("API key").fill(keys["supervisor"])
            login.get_by_role("button", name="Continue").click()
            wait_live(console)
            expect(console.locator("li.conv")).to_have_count(3)
            expect(console.locator("#board-empty")).to_be_hidden()


def test_sidebar_with_another_agents_key_says_so_and_stops(browser: Browser, flushed_redis: str) -> None:
    """Agent a2's sidebar opened with a1's key says the key is for another agent and opens no socket at all,
    instead of "Disconnected — reconnecting" and a retry storm of refused sockets."""
    keys = make_keys(flushed_redis, {"a1": ("agent", "a1")})
    with LiveServer(make_settings(flushed_redis), KeywordScorer()) as server:
        context = browser.new_context(viewport={"width": 320, "height": 600})
        try:
            page = context.new_page()
            sockets: list[str] = []
            page.on("websocket", lambda ws: sockets.append(ws.url))
            page.goto(f"{server.http}/sidebar/a2?token={keys['a1']}")
            login = page.get_by_role("dialog", name="Sign in")
            expect(login.locator(".error")).to_contain_text("This key is for another agent (a1)")
            page.wait_for_timeout(2500)
            assert sockets == []
            expect(page.locator("#banner")).to_be_hidden()
        finally:
            context.close()


def test_open_mode_sockets_close_when_the_first_key_is_made(browser: Browser, flushed_redis: str) -> None:
    """A console opened while the service was open is cut off when the first key is created: it asks for a key."""
    with (
        LiveServer(make_settings(flushed_redis), KeywordScorer()) as server,
        opened(browser, server.http + "/") as console,
    ):
        wait_live(console)
        make_keys(flushed_redis, {"admin": ("admin", None)})
        expect(console.get_by_role("dialog", name="Sign in")).to_be_visible(timeout=15_000)


def test_sidebar_shows_the_latest_state_of_a_chat(browser: Browser, live_server: LiveServer, screenshot: Shot) -> None:
    """A chat that escalated and then calmed down is no longer red with ESCALATE: the newest nudge decides."""
    with (
        opened(browser, live_server.http + "/sidebar/a1", width=320, height=700) as sidebar,
        httpx.Client(base_url=live_server.http) as client,
    ):
        wait_live(sidebar)
        start(client, "calming", agent="a1", name="Maria Lopez")
        say(client, "calming", "m1", f"{ANGRY}. I want to speak to your manager now.")
        chat = sidebar.locator('li.chat[data-cid="calming"]')
        expect(chat).to_have_attribute("data-escalation", "true")
        say(client, "calming", "m2", "We can replace it today, Maria.", role="agent")
        calmed = say(client, "calming", "m3", "Thanks, that worked perfectly, great help!")
        assert "de_escalated" in [a["rule"] for a in calmed["alerts"]]
        expect(chat).to_have_attribute("data-escalation", "false")
        expect(chat.locator(".escalate-tag")).to_have_count(0)
        screenshot(sidebar, "sidebar-calmed")


def test_turns_not_in_english_are_shown_as_not_scored(
    browser: Browser, live_server: LiveServer, screenshot: Shot
) -> None:
    """A German customer's chat reads "not scored (German)" on the board, in the transcript and in the sidebar
    (which shows the chat even though no nudge came), never as calm zeros."""
    with (
        opened(browser, live_server.http + "/") as console,
        opened(browser, live_server.http + "/sidebar/a1", width=320, height=700) as sidebar,
        httpx.Client(base_url=live_server.http) as client,
    ):
        wait_live(console)
        wait_live(sidebar)
        start(client, "de1", agent="a1", name="Jonas Becker")
        reply = say(client, "de1", "m1", GERMAN)
        assert (reply["scores"]["scored"], reply["scores"]["language"]) == (False, "de")
        row = console.locator('li.conv[data-cid="de1"]')
        expect(row.locator(".conv-unscored")).to_have_text("not scored (German)")
        expect(sidebar.locator('li.chat[data-cid="de1"] .unscored-tag')).to_have_text("not scored (German)")
        row.locator("button").click()
        turn = console.locator("#transcript-turns li.turn").first
        expect(turn.locator(".score-unscored")).to_have_text("not scored (German)")
        expect(turn.locator(".score-anger")).to_have_count(0)
        screenshot(console, "console-not-scored")
        screenshot(sidebar, "sidebar-not-scored")


def rules_with(tmp_path: Path, text: str) -> list[Path]:
    local = tmp_path / "rules"
    local.mkdir()
    (local / "local.yaml").write_text(text, encoding="utf-8")
    return [Path(__file__).resolve().parents[2] / "rules", local]


def test_repeated_info_alerts_share_one_card(browser: Browser, flushed_redis: str, tmp_path: Path) -> None:
    """use_name raised again and again in one chat is one card saying how many times, not a flood of cards."""
    rules = rules_with(tmp_path, "version: 1\nrules:\n  - id: use_name\n    cooldown_s: 0\n")
    with (
        LiveServer(make_settings(flushed_redis, rules_paths=rules), KeywordScorer()) as server,
        opened(browser, server.http + "/") as console,
        httpx.Client(base_url=server.http) as client,
    ):
        wait_live(console)
        start(client, "nameless", agent="a1", name="Maria Lopez")
        say(client, "nameless", "m1", ANGRY)
        raised = [say(client, "nameless", f"r{i}", f"Let me check that, step {i}.", role="agent") for i in range(4)]
        assert sum("use_name" in [a["rule"] for a in r["alerts"]] for r in raised) == 4
        cards = console.locator('li.alert[data-rule="use_name"]')
        expect(cards).to_have_count(4)
        visible = console.locator('li.alert[data-rule="use_name"]:visible')
        expect(visible).to_have_count(1)
        expect(visible.locator(".alert-repeat")).to_have_text("4 times in this chat")


def test_finished_chats_leave_the_board_and_rows_tell_namesakes_apart(
    browser: Browser, live_server: LiveServer, screenshot: Shot
) -> None:
    """Two chats with the same customer name show different short ids; ending the riskier one takes it off the
    board at once, however high its risk."""
    with opened(browser, live_server.http + "/") as console, httpx.Client(base_url=live_server.http) as client:
        wait_live(console)
        start(client, "support-7f3a91c2-0001", agent="a1", name="Maria Lopez")
        start(client, "support-7f3a91c2-0002", agent="a2", name="Maria Lopez")
        angry(client, "support-7f3a91c2-0001")
        rows = console.locator("li.conv")
        expect(rows).to_have_count(2)
        ids = rows.locator(".conv-id").all_inner_texts()
        assert len(set(ids)) == 2 and all(i.startswith("#") for i in ids), ids
        expect(rows.first).to_have_attribute("data-cid", "support-7f3a91c2-0001")
        assert client.post("/v1/conversations/support-7f3a91c2-0001/end").status_code == 200
        expect(rows).to_have_count(1, timeout=3000)  # live, not the 30 s board reload
        expect(rows.first).to_have_attribute("data-cid", "support-7f3a91c2-0002")


def test_badges_fit_at_1024_px_and_the_sidebar_names_its_agent(
    browser: Browser, live_server: LiveServer, screenshot: Shot
) -> None:
    """At 1024 px the board's "2 critical" flag is whole (not "2 C"), and the sidebar header greets the agent by
    name once a nudge has named them."""
    with (
        opened(browser, live_server.http + "/", width=1024, height=768) as console,
        opened(browser, live_server.http + "/sidebar/a1", width=320, height=600) as sidebar,
        httpx.Client(base_url=live_server.http) as client,
    ):
        wait_live(console)
        wait_live(sidebar)
        r = client.post(
            "/v1/conversations",
            json={
                "conversation_id": "wide",
                "customer": {"id": "u1", "name": "Maximiliana Fernández-Oyelaran de la Cruz"},
                "agent": {"id": "a1", "name": "Sam Lee"},
            },
        )
        assert r.status_code in (200, 201)
        say(client, "wide", "m1", f"{ANGRY}. You are useless, idiots.")
        say(client, "wide", "m2", f"{ANGRY}. You are useless idiots, I want your manager.")
        flag = console.locator('li.conv[data-cid="wide"] .conv-flag')
        expect(flag).to_have_text(re.compile(r"^\d+ critical$", re.I))
        fits = flag.evaluate(
            """el => { const box = el.getBoundingClientRect(), row = el.closest('button').getBoundingClientRect();
                return el.scrollWidth <= el.clientWidth && box.left >= row.left && box.right <= row.right; }"""
        )
        assert fits, "the critical flag is clipped"
        screenshot(console, "console-1024")
        expect(sidebar.locator("#agent-label")).to_have_text("nudges for Sam Lee")
