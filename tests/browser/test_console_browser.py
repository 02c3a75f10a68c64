"""The console and the sidebar in a real browser, against the real service: live updates, acks, reconnects."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from redis.asyncio import Redis

from monitor.auth import KeyStore, Role
from monitor.client import AsyncCalmwatchClient
from monitor.demo import DemoPlayer, DemoResult, load_demo_conversations
from tests.browser.conftest import SCREENSHOTS
from tests.conftest import LiveServer, make_settings
from tests.fakes import KeywordScorer

pytestmark = pytest.mark.browser

ANGRY = "This is ridiculous and unacceptable, I am furious"
Shot = Callable[[Page, str], Path]


@contextmanager
def opened(browser: Browser, url: str, width: int = 1440, height: int = 900) -> Iterator[Page]:
    """A page in its own context (own storage, like another person's browser); JavaScript errors fail the test."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    try:
        yield page
        assert errors == [], errors
    finally:
        context.close()


def wait_live(page: Page, timeout: float = 10_000) -> None:
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=timeout)


def start(client: httpx.Client, cid: str, agent: str, name: str) -> None:
    r = client.post(
        "/v1/conversations",
        json={"conversation_id": cid, "customer": {"id": f"u-{cid}", "name": name}, "agent": {"id": agent}},
    )
    assert r.status_code in (200, 201), r.text


def angry(client: httpx.Client, cid: str, mid: str = "m1") -> list[dict[str, Any]]:
    r = client.post("/v1/messages", json={"conversation_id": cid, "message_id": mid, "role": "customer", "text": ANGRY})
    assert r.status_code == 200, r.text
    alerts: list[dict[str, Any]] = r.json()["alerts"]
    assert alerts
    return alerts


def seed_demo(base_url: str) -> list[DemoResult]:
    """The shipped demo chats, posted through the API without the human pauses."""

    async def no_wait(_: float) -> None:
        return None

    async def run() -> list[DemoResult]:
        async with AsyncCalmwatchClient(base_url) as client:
            return await DemoPlayer(client, run_id="live", sleep=no_wait).play_all(load_demo_conversations())

    # Playwright's sync API runs an event loop in this thread, so the async player runs in another one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


def unlabelled_controls(page: Page) -> list[str]:
    """Buttons, inputs and selects that a screen reader would announce without a name."""
    script = """els => els.filter(el => {
        const name = el.getAttribute('aria-label') || (el.labels && [...el.labels].map(l => l.textContent).join(''))
            || (el.tagName === 'BUTTON' ? el.textContent : '');
        return !name || !name.trim();
    }).map(el => el.outerHTML.slice(0, 80))"""
    found: list[str] = page.locator("button, input, select").evaluate_all(script)
    return found


def card(page: Page, alert_id: str) -> Any:
    return page.locator(f'li.alert[data-id="{alert_id}"]')


def test_posted_messages_show_up_live_in_console_and_sidebar(
    browser: Browser, live_server: LiveServer, screenshot: Shot
) -> None:
    """A message posted through the API appears in the console (feed and board) and in its agent's sidebar only."""
    with (
        opened(browser, live_server.http + "/") as console,
        opened(browser, live_server.http + "/sidebar/sam", width=320, height=760) as sidebar,
    ):
        wait_live(console)
        wait_live(sidebar)
        demo = seed_demo(live_server.http)
        expect(console.locator("li.conv")).to_have_count(len(demo))

        with httpx.Client(base_url=live_server.http) as client:
            start(client, "walk-in", agent="sam", name="Rosa Diaz")
            posted = time.monotonic()
            alert = angry(client, "walk-in")[0]
        expect(card(console, alert["id"])).to_be_visible()
        console_s = time.monotonic() - posted
        expect(sidebar.locator(f'li.nudge[data-id="{alert["id"]}"]')).to_be_visible()
        sidebar_s = time.monotonic() - posted
        expect(card(console, alert["id"])).to_contain_text("Rosa Diaz")
        row = console.locator('li.conv[data-cid="walk-in"]')
        expect(row).to_contain_text("Rosa Diaz")
        expect(row.locator("svg.sparkline")).to_have_attribute("aria-label", re.compile(r"over 1 turn: anger now"))
        (SCREENSHOTS.parent / "browser-latency.json").write_text(
            json.dumps({"console_s": round(console_s, 3), "sidebar_s": round(sidebar_s, 3)})
        )

        # Only Sam's chats are in Sam's sidebar, and the chat where a manager was asked for is flagged.
        agents = {f"{c.key}-live": c.agent.id for c in load_demo_conversations()} | {"walk-in": "sam"}
        shown = sidebar.locator("li.chat").evaluate_all("els => els.map(e => e.dataset.cid)")
        assert "walk-in" in shown and {agents[cid] for cid in shown} == {"sam"}
        expect(sidebar.locator('li.chat[data-cid="late-parcel-live"]')).to_have_attribute("data-escalation", "true")
        expect(sidebar.locator("li.chat").first).to_have_attribute("data-cid", "walk-in")  # newest on top
        screenshot(console, "console")
        screenshot(sidebar, "sidebar")
        for page in (console, sidebar):
            assert unlabelled_controls(page) == []

        # Keyboard: open the riskiest conversation's transcript with Enter, close it with Escape.
        console.locator("li.conv button").first.focus()
        console.keyboard.press("Enter")
        drawer = console.locator("#transcript")
        expect(drawer).to_be_visible()
        expect(drawer.locator("li.turn").first).to_be_visible()
        expect(drawer.locator(".turn-alert").first).to_be_visible()
        expect(drawer.locator(".score-anger").first).to_contain_text("anger")
        screenshot(console, "console-transcript")
        console.keyboard.press("Escape")
        expect(drawer).to_be_hidden()

        # Dismissing a nudge removes it, and it stays dismissed after a reload.
        nudge = sidebar.locator(f'li.nudge[data-id="{alert["id"]}"]')
        sidebar.get_by_role("button", name=re.compile("Dismiss nudge")).first.click()
        expect(nudge).to_have_count(0)
        sidebar.reload()
        wait_live(sidebar)
        expect(sidebar.locator("li.chat").first).to_be_visible()
        expect(nudge).to_have_count(0)


@contextmanager
def helpdesk_page(html: str) -> Iterator[str]:
    """Another site (another origin, as a chat tool would be) serving one page; yields its URL."""
    body = html.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_sidebar_embeds_with_one_script_tag(browser: Browser, live_server: LiveServer, screenshot: Shot) -> None:
    """The documented <script> tag docks the sidebar beside another site's page, and it can be folded away."""
    with httpx.Client(base_url=live_server.http) as client:
        start(client, "embed-1", agent="sam", name="Maria Lopez")
        alert = angry(client, "embed-1")[0]
    host = f"""<!doctype html><html lang="en"><head><title>Helpdesk</title></head>
      <body style="margin:0;font:15px system-ui,sans-serif;background:#fff;color:#1f2937">
      <main style="padding:24px 360px 24px 28px"><h1 style="font-size:20px">Helpdesk · Ticket #4821</h1>
      <p><b>Maria Lopez:</b> {ANGRY}</p>
      <textarea aria-label="Reply" rows="5" style="width:100%;font:inherit"></textarea></main>
      <script src="{live_server.http}/static/embed.js" data-agent="sam" async></script></body></html>"""
    with helpdesk_page(host) as url, opened(browser, url, width=1280, height=720) as page:
        frame = page.frame_locator('iframe[title="Calmwatch nudges"]')
        expect(frame.locator(f'li.nudge[data-id="{alert["id"]}"]')).to_be_visible()
        screenshot(page, "sidebar-embedded")
        page.get_by_role("button", name="Hide Calmwatch nudges").click()
        expect(page.locator('iframe[title="Calmwatch nudges"]')).to_be_hidden()


def test_acknowledging_in_one_console_updates_every_console(
    browser: Browser, live_server: LiveServer, screenshot: Shot
) -> None:
    """An ack clicked in one console shows in another at once and survives a reload; filters hide what they should."""
    with (
        opened(browser, live_server.http + "/") as one,
        opened(browser, live_server.http + "/console") as two,
    ):
        wait_live(one)
        wait_live(two)
        with httpx.Client(base_url=live_server.http) as client:
            start(client, "c1", agent="a1", name="Maria Lopez")
            alerts = angry(client, "c1")
        alert = alerts[0]
        for page in (one, two):
            expect(card(page, alert["id"])).to_be_visible()
            expect(page.locator("#stat-open")).to_have_text(str(len(alerts)))

        one.get_by_label("Acknowledge as").fill("Dana")
        card(one, alert["id"]).get_by_role("button", name=re.compile("^Acknowledge")).click()
        expect(card(two, alert["id"])).to_have_attribute("data-acked", "true")
        expect(card(two, alert["id"])).to_contain_text("Acknowledged by Dana")
        expect(two.locator("#stat-open")).to_have_text(str(len(alerts) - 1))
        screenshot(two, "console-acknowledged")

        two.reload()
        wait_live(two)
        expect(card(two, alert["id"])).to_have_attribute("data-acked", "true")
        two.get_by_label("Hide acknowledged").check()
        expect(card(two, alert["id"])).to_be_hidden()
        two.get_by_label("Hide acknowledged").uncheck()
        two.get_by_label("Rule").select_option(alert["rule"])
        for other in alerts[1:]:
            if other["rule"] != alert["rule"]:
                expect(card(two, other["id"])).to_be_hidden()
        expect(card(two, alert["id"])).to_be_visible()
        two.get_by_label("Rule").select_option("")
        card(two, alert["id"]).get_by_role("button", name="Open conversation").click()
        target = two.locator("#transcript li.turn.is-target")
        expect(target).to_have_attribute("data-message-id", alert["message_id"])
        expect(target.locator(".turn-alert")).to_contain_text(alert["nudge"][:30])
        two.keyboard.press("Escape")
        two.get_by_role("checkbox", name=alert["severity"].capitalize(), exact=True).uncheck()
        expect(card(two, alert["id"])).to_be_hidden()


def test_reconnect_fills_the_gap(browser: Browser, flushed_redis: str, screenshot: Shot) -> None:
    """When the console's server goes away it says so; after it is back, the alerts raised meanwhile appear once."""
    settings = make_settings(flushed_redis)
    served = LiveServer(settings, KeywordScorer())
    port = served.port
    # A second process on the same Redis keeps taking messages while the console's server is down.
    with LiveServer(settings, KeywordScorer()) as other, httpx.Client(base_url=other.http) as client:
        served.__enter__()
        try:
            with opened(browser, served.http + "/") as console:
                sockets: list[str] = []
                console.on("websocket", lambda ws: sockets.append(ws.url))
                wait_live(console)
                start(client, "before", agent="a1", name="Maria Lopez")
                seen = angry(client, "before")
                expect(console.locator("li.alert")).to_have_count(len(seen))

                served.__exit__(None, None, None)
                expect(console.locator("#connection")).to_have_attribute("data-state", "disconnected")
                expect(console.locator("#banner")).to_contain_text("Reconnecting")
                screenshot(console, "console-disconnected")
                gap: list[dict[str, Any]] = []
                for n in range(2):
                    start(client, f"gap-{n}", agent="a2", name=f"Customer {n}")
                    gap += angry(client, f"gap-{n}")

                served = LiveServer(settings, KeywordScorer())
                served.port = served.server.config.port = port
                served.__enter__()
                wait_live(console, timeout=20_000)
                for alert in gap:
                    expect(card(console, alert["id"])).to_have_count(1)
                expect(console.locator("li.alert")).to_have_count(len(seen) + len(gap))
                expect(console.locator("#banner")).to_be_hidden()
                expect(console.locator('li.conv[data-cid="gap-1"]')).to_be_visible()  # the board caught up too
                assert any(f"since={seen[-1]['id']}" in url for url in sockets)
        finally:
            served.__exit__(None, None, None)


def make_keys(redis_url: str, wanted: dict[str, tuple[Role, str | None]]) -> dict[str, str]:
    """API keys made straight in Redis (as `calmwatch keys create` does), in a thread: Playwright owns this one."""

    async def create() -> dict[str, str]:
        redis = Redis.from_url(redis_url)
        try:
            store = KeyStore(redis)
            return {name: (await store.create(role, agent_id=agent))[0] for name, (role, agent) in wanted.items()}
        finally:
            await redis.aclose()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, create()).result()


def test_pages_work_with_api_keys(browser: Browser, flushed_redis: str, screenshot: Shot) -> None:
    """With keys required, the console signs in through its key form, the sidebar through ?token=, and neither
    keeps the long-lived key: both hold a short-lived token."""
    keys = make_keys(
        flushed_redis, {"ingest": ("ingest", None), "supervisor": ("supervisor", None), "a1": ("agent", "a1")}
    )
    with (
        LiveServer(make_settings(flushed_redis), KeywordScorer()) as server,
        opened(browser, server.http + "/") as console,
        opened(browser, f"{server.http}/sidebar/a1?token={keys['a1']}", width=320, height=600) as sidebar,
    ):
        login = console.get_by_role("dialog", name="Sign in")
        expect(login).to_be_visible()
        screenshot(console, "console-sign-in")
        login.get_by_label("API key").fill(keys["supervisor"])
        login.get_by_role("button", name="Continue").click()
        wait_live(console)
        wait_live(sidebar)
        assert "token=" not in sidebar.url
        for page in (console, sidebar):
            held = page.evaluate("sessionStorage.getItem('calmwatch.token')")
            assert held.startswith("cwt_") and held not in keys.values()

        with httpx.Client(base_url=server.http, headers={"Authorization": f"Bearer {keys['ingest']}"}) as client:
            start(client, "k1", agent="a1", name="Maria Lopez")
            alert = angry(client, "k1")[0]
        expect(sidebar.locator(f'li.nudge[data-id="{alert["id"]}"]')).to_be_visible()
        card(console, alert["id"]).get_by_role("button", name=re.compile("^Acknowledge")).click()
        expect(card(console, alert["id"])).to_have_attribute("data-acked", "true")

    # A sidebar opened without a key asks for one instead of retrying in silence.
    with (
        LiveServer(make_settings(flushed_redis), KeywordScorer()) as server,
        opened(browser, server.http + "/sidebar/a1", width=320, height=600) as bare,
    ):
        login = bare.get_by_role("dialog", name="Sign in")
        login.get_by_label("API key").fill(keys["a1"])
        login.get_by_role("button", name="Continue").click()
        wait_live(bare)
        expect(bare.locator(f'li.nudge[data-id="{alert["id"]}"]')).to_be_visible()
