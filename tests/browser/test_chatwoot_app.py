"""The sidebar as a Chatwoot Dashboard App: inside a Chatwoot-like page that answers ``fetch-info`` with an
``appContext``, it shows that conversation's nudges only, and follows Chatwoot to another conversation."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.test_console_browser import helpdesk_page, opened
from tests.conftest import LiveServer
from tests.connectors.platforms import dumps, fixture
from tests.connectors.service import conversation

pytestmark = pytest.mark.browser


def context(conversation: int) -> str:
    """Chatwoot's appContext message (a JSON string, as Chatwoot posts it) for a conversation of account 2."""
    data = {
        "conversation": {"id": conversation, "account_id": 2, "meta": {"assignee": {"id": 7, "name": "Ravi Menon"}}},
        "contact": {"id": 512, "name": "Dana Kowalczyk"},
        "currentAgent": {"id": 7, "name": "Ravi Menon", "email": "ravi@example.org"},
    }
    return json.dumps({"event": "appContext", "data": data})


def chatwoot_like(app_url: str) -> str:
    """A page on another origin embedding the app; it answers fetch-info with the conversation in #open."""
    return f"""<!doctype html><html><body>
<p id="open">41</p>
<iframe id="app" src="{app_url}" width="360" height="600"></iframe>
<script>
  const contexts = {{41: {json.dumps(context(41))}, 42: {json.dumps(context(42))}}};
  const frame = document.getElementById("app");
  const send = () => frame.contentWindow.postMessage(contexts[document.getElementById("open").textContent], "*");
  window.addEventListener("message", (event) => {{
    if (event.data === "chatwoot-dashboard-app:fetch-info") send();
  }});
  window.openConversation = (id) => {{ document.getElementById("open").textContent = String(id); send(); }};
</script></body></html>"""


def angry_in(client: httpx.Client, conversation: int, message_id: int) -> None:
    payload = fixture("chatwoot_message_created.json")
    payload.update(id=message_id, content="This is ridiculous and unacceptable, I am furious")
    payload["conversation"]["id"] = conversation
    answer = client.post("/v1/connectors/chatwoot?account_id=2", content=dumps(payload))
    assert answer.status_code == 200, answer.text


@pytest.fixture
def two_conversations(live_server: LiveServer) -> Iterator[LiveServer]:
    """Open mode (no secret needed on loopback): an angry turn in conversations 41 and 42 of account 2."""
    with httpx.Client(base_url=live_server.http) as client:
        angry_in(client, 41, 9101)
        angry_in(client, 42, 9201)
        for cid in ("chatwoot:2:41", "chatwoot:2:42"):
            assert conversation(client, cid, turns=1)["alerts"]
    yield live_server


def test_dashboard_app_shows_the_open_conversations_nudges(browser: Browser, two_conversations: LiveServer) -> None:
    """appContext for 41 shows 41's nudges (not 42's); Chatwoot switching to 42 switches the app."""
    app_url = f"{two_conversations.http}/connectors/chatwoot/app"
    with helpdesk_page(chatwoot_like(app_url)) as page_url, opened(browser, page_url, width=420, height=700) as page:
        frame = page.frame_locator("#app")
        expect(frame.locator('li.chat[data-cid="chatwoot:2:41"]')).to_be_visible()
        expect(frame.locator('li.chat[data-cid="chatwoot:2:42"]')).to_have_count(0)
        expect(frame.locator("li.nudge").first).to_be_visible()
        page.evaluate("openConversation(42)")
        expect(frame.locator('li.chat[data-cid="chatwoot:2:42"]')).to_be_visible()
        expect(frame.locator('li.chat[data-cid="chatwoot:2:41"]')).to_have_count(0)
