"""Feedback clicks in the sidebar and the console, and the reports page drawn from real data, in Chromium."""

from __future__ import annotations

import io
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from monitor.replay import replay_command
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_console_browser import Shot, card, opened, start, unlabelled_controls, wait_live
from tests.conftest import LiveServer
from tests.paths import REPO_ROOT

pytestmark = pytest.mark.browser

# KeywordScorer: each angry word adds 0.45 to anger, so two read 0.95 and three 1.0 (the anger rule fires at 0.6).
ANGRY_2 = "This is ridiculous and unacceptable"
ANGRY_3 = "This is ridiculous and unacceptable, I am furious"
CALM = "ok thanks, that works"


def say(client: httpx.Client, cid: str, mid: str, text: str, role: str = "customer") -> list[dict[str, Any]]:
    r = client.post("/v1/messages", json={"conversation_id": cid, "message_id": mid, "role": role, "text": text})
    assert r.status_code == 200, r.text
    alerts: list[dict[str, Any]] = r.json()["alerts"]
    return alerts


def anger_alert(alerts: list[dict[str, Any]]) -> dict[str, Any]:
    return next(a for a in alerts if a["rule"] == "anger")


def test_feedback_from_sidebar_and_console_reaches_the_reports_page(
    browser: Browser, live_server: LiveServer, screenshot: Shot
) -> None:
    """One click in the sidebar and one in the console store verdicts; the open reports page redraws with them."""
    with httpx.Client(base_url=live_server.http) as client:
        start(client, "fb-1", agent="sam", name="Rosa Diaz")
        start(client, "fb-2", agent="sam", name="Ana Ruiz")
        first = anger_alert(say(client, "fb-1", "m1", ANGRY_3))
        second = anger_alert(say(client, "fb-2", "m1", ANGRY_2))
    with (
        opened(browser, live_server.http + "/sidebar/sam", width=340, height=760) as sidebar,
        opened(browser, live_server.http + "/") as console,
        opened(browser, live_server.http + "/reports") as reports,
    ):
        for page in (sidebar, console, reports):
            wait_live(page)
        expect(reports.locator("#false-alarms")).to_contain_text("No feedback yet")

        nudge = sidebar.locator(f'li.nudge[data-id="{first["id"]}"]')
        nudge.get_by_role("button", name="Helpful: anger").click()
        clicked = time.monotonic()
        expect(nudge.locator("button.fb-helpful")).to_have_attribute("aria-pressed", "true")
        expect(reports.locator("#false-alarm-chart .fa-rate[data-rule=anger]")).to_contain_text("1 helpful")
        reports_s = time.monotonic() - clicked
        # The console hears the verdict live, and the second alert is judged from the console.
        expect(card(console, first["id"]).locator("button.fb-helpful")).to_have_attribute("aria-pressed", "true")
        card(console, second["id"]).get_by_role("button", name="False alarm: anger").click()
        expect(card(console, second["id"]).locator("button.fb-false_alarm")).to_have_attribute("aria-pressed", "true")
        expect(reports.locator("#false-alarm-chart .fa-rate[data-rule=anger]")).to_contain_text("50 % false")
        # The sidebar (same agent) shows the console's verdict too; a note can follow the click.
        other = sidebar.locator(f'li.nudge[data-id="{second["id"]}"]')
        expect(other.locator("button.fb-false_alarm")).to_have_attribute("aria-pressed", "true")
        other.get_by_role("textbox").fill("customer was joking")
        other.get_by_role("button", name="Save note").click()
        expect(other.locator(".feedback-status")).to_contain_text("customer was joking")
        screenshot(sidebar, "sidebar-feedback")
        screenshot(console, "console-feedback")
        for page in (sidebar, console, reports):
            assert unlabelled_controls(page) == []

    with httpx.Client(base_url=live_server.http) as client:
        listed = {a["id"]: a["feedback"] for a in client.get("/v1/alerts").json()}
    assert listed[first["id"]]["verdict"] == "helpful" and listed[first["id"]]["by"] == "sam"
    assert listed[second["id"]]["verdict"] == "false_alarm" and listed[second["id"]]["note"] == "customer was joking"
    (SCREENSHOTS.parent / "reports-latency.json").write_text(
        json.dumps({"sidebar_click_to_reports_s": round(reports_s, 3)})
    )


def test_reports_page_shows_recovery_timeline_and_applies_a_suggestion(
    browser: Browser, live_server: LiveServer, screenshot: Shot
) -> None:
    """Real alerts and verdicts: recovery with its cooldown comparison, a timeline with markers, and a threshold
    suggestion that an admin applies from the page, after which the live rule pack no longer fires below it."""
    with httpx.Client(base_url=live_server.http) as client:
        # Two conversations where the customer was angry twice within the anger rule's cooldown, then calmed.
        for cid in ("rc-1", "rc-2"):
            start(client, cid, agent="sam", name="Maria Lopez")
            say(client, cid, "m1", ANGRY_3)
            say(client, cid, "m2", "I am sorry Maria, let me fix this now", role="agent")
            say(client, cid, "m3", ANGRY_3)
            say(client, cid, "m4", CALM)
        # Verdicts: anger 0.95 was a false alarm three times, anger 1.0 helpful three times.
        verdicts = []
        for i, (text, verdict) in enumerate([(ANGRY_2, "false_alarm")] * 3 + [(ANGRY_3, "helpful")] * 3):
            start(client, f"sg-{i}", agent="lee", name="Ola Nowak")
            alert = anger_alert(say(client, f"sg-{i}", "m1", text))
            say(client, f"sg-{i}", "m2", CALM)
            verdicts.append(client.post(f"/v1/alerts/{alert['id']}/feedback", json={"verdict": verdict}))
        assert all(r.status_code == 200 for r in verdicts)

    with opened(browser, live_server.http + "/reports", height=1800) as page:
        wait_live(page)
        expect(page.locator("#series-chart rect[data-rule=anger]").first).to_be_visible()
        recovery = page.locator("#recovery-chart")
        expect(recovery.locator("rect[data-group=nudged][data-rule=anger]")).to_have_count(1)
        expect(recovery.locator("rect[data-group=cooldown][data-rule=anger]")).to_have_count(1)
        expect(recovery.locator(".effect[data-rule=anger]")).to_contain_text("effect")
        expect(page.locator("#false-alarm-chart .fa-rate[data-rule=anger]")).to_contain_text("50 % false")

        page.locator("#conversation").select_option("sg-5")
        timeline = page.locator('svg.timeline[data-cid="sg-5"]')
        expect(timeline.locator("polyline.tl-anger")).to_have_count(1)
        expect(timeline.locator('g.tl-alert[data-rule="anger"][data-feedback="helpful"]')).to_have_count(1)

        row = page.locator("#suggestions tr", has=page.locator("button.apply[data-rule=anger]"))
        expect(row).to_contain_text("0.60")
        expect(row).to_contain_text("0.96")
        screenshot(page, "reports")
        row.locator("button.apply").click()
        expect(row).to_contain_text("Applied by")
        expect(page.locator("#audit")).to_contain_text("anger threshold 0.6 → 0.96 by open")

    with httpx.Client(base_url=live_server.http) as client:
        start(client, "after", agent="sam", name="Maria Lopez")
        assert not [a for a in say(client, "after", "m1", ANGRY_2) if a["rule"] == "anger"]  # 0.95 < 0.96 now
        start(client, "after-2", agent="sam", name="Maria Lopez")
        assert anger_alert(say(client, "after-2", "m1", ANGRY_3))  # 1.0 still fires
        audit = client.get("/v1/rules/overrides/audit").json()
    assert [(c["rule"], c["param"], c["old"], c["new"], c["by"]) for c in audit] == [
        ("anger", "threshold", 0.6, 0.96, "open")
    ]
    override = live_server.settings.override_file.read_text()
    assert "threshold: 0.96" in override and "by open" in override


def test_replay_html_draws_curves_and_markers_offline(browser: Browser, tmp_path: Path, screenshot: Shot) -> None:
    """`calmwatch replay tests/scenarios --html` writes a page that draws, from the file alone, one timeline per
    scenario with anger and frustration curves and a marker per alert."""
    out = tmp_path / "out.html"
    scenarios = [REPO_ROOT / "tests" / "scenarios"]
    # Playwright's sync API runs an event loop in this thread; the replay runs its own in another one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(replay_command, scenarios, scorer_name="vader", html=out, out=io.StringIO()).result()
    conversations = len(list((REPO_ROOT / "tests" / "scenarios").glob("*.yaml")))
    with opened(browser, out.as_uri(), height=1400) as page:
        expect(page.locator("body")).to_have_attribute("data-drawn", re.compile(r"\d+"))
        assert int(page.locator("body").get_attribute("data-drawn") or 0) >= conversations
        assert page.locator("svg.timeline").count() >= conversations
        assert page.locator("svg.timeline polyline.tl-anger").count() > 0
        assert page.locator("svg.timeline g.tl-alert").count() > 0
        expect(page.locator("#per-rule tbody tr").first).to_be_visible()
        screenshot(page, "replay-report")
