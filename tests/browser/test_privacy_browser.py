"""Issue 21, done when: in the console a transcript shows a card, an email address and a phone number as
placeholders and the order number as written."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.test_console_browser import Shot, opened, start, wait_live
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

TURN = (
    "I am furious, this is ridiculous: order #2025550143 was charged to 4111 1111 1111 1111. "
    "Mail ana@example.com or call +44 20 7946 0958"
)


def test_console_transcript_shows_placeholders(browser: Browser, live_server: LiveServer, screenshot: Shot) -> None:
    """The transcript drawer reads [CARD], [EMAIL], [PHONE] and #2025550143, and none of the three values."""
    with httpx.Client(base_url=live_server.http) as client:
        start(client, "pii", agent="sam", name="Ana Lopez")
        r = client.post("/v1/messages", json={"conversation_id": "pii", "message_id": "m1", "role": "customer",
                                              "text": TURN})  # fmt: skip
        assert r.status_code == 200, r.text
    with opened(browser, live_server.http + "/") as console:
        wait_live(console)
        console.locator('li.conv[data-cid="pii"] button').first.click()
        turn = console.locator("#transcript li.turn").first
        expect(turn).to_contain_text("order #2025550143 was charged to [CARD]. Mail [EMAIL] or call [PHONE]")
        text = console.locator("#transcript").inner_text()
        for value in ("4111", "ana@example.com", "7946"):
            assert value not in text
        screenshot(console, "console-redacted-transcript")
