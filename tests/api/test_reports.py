"""``GET /v1/reports``, timelines, and applying a threshold override: who may, what changes, what is audited."""

from __future__ import annotations

from typing import Any

import httpx
import yaml

from tests.auth.conftest import ANGRY, Secured, seed


def say(client: httpx.Client, cid: str, mid: str, text: str, role: str = "customer") -> list[dict[str, Any]]:
    r = client.post("/v1/messages", json={"conversation_id": cid, "message_id": mid, "role": role, "text": text})
    assert r.status_code == 200, r.text
    alerts: list[dict[str, Any]] = r.json()["alerts"]
    return alerts


def test_reports_are_for_supervisors_and_count_alerts_and_verdicts(secured: Secured) -> None:
    """A supervisor reads the report (alerts per rule, verdicts, recovery, the conversation list); agents and
    ingest keys may not; the timeline carries the turns and the alert with its verdict."""
    alert = seed(secured)
    with secured.client("ingest") as ingest:
        say(ingest, "c1", "m2", "Sorry about that, Maria", role="agent")
        say(ingest, "c1", "m3", ANGRY)  # inside the anger rule's cooldown: a comparison turn
        say(ingest, "c1", "m4", "ok, thanks")
        assert ingest.get("/v1/reports").status_code == 403
    with secured.client("a1") as agent:
        assert agent.post(f"/v1/alerts/{alert['id']}/feedback", json={"verdict": "false_alarm"}).status_code == 200
        assert agent.get("/v1/reports").status_code == 403
    with secured.client(None) as anyone:
        page = anyone.get("/reports")  # the page itself is static; its data needs a supervisor key
        assert page.status_code == 200 and "/static/reports.js" in page.text
        assert anyone.get("/v1/reports").status_code == 401
    with secured.client("supervisor") as supervisor:
        report = supervisor.get("/v1/reports", params={"hours": 1}).json()
        timeline = supervisor.get("/v1/reports/conversations/c1").json()
        assert supervisor.get("/v1/reports/conversations/nope").status_code == 404
        assert supervisor.get("/v1/reports", params={"hours": 0}).status_code == 422
    anger = next(r for r in report["rules"] if r["rule"] == "anger")
    assert (anger["alerts"], anger["helpful"], anger["false_alarm"], anger["false_alarm_rate"]) == (1, 0, 1, 1.0)
    assert anger["recovery"]["nudged"]["count"] == 1 and anger["recovery"]["cooldown"]["count"] == 1
    assert report["totals"]["feedback"] == 1 and sum(report["series"]["anger"]) == 1
    assert [c["conversation_id"] for c in report["conversations"]] == ["c1"]
    assert [r["key"] for r in report["agents"]] == ["a1"]
    assert [t["role"] for t in timeline["turns"]] == ["customer", "agent", "customer", "customer"]
    marker = next(a for a in timeline["alerts"] if a["id"] == alert["id"])
    assert marker["turn"] == 0 and marker["feedback"] == "false_alarm"


def test_only_an_admin_applies_an_override_and_it_is_checked_reloaded_and_audited(secured: Secured) -> None:
    """Supervisors may not apply; an unknown rule or parameter, or a value the pack refuses, changes nothing; a
    good change is written to the override file, the live rules use it at once, and the audit names the key."""
    body = {"rule": "anger", "param": "threshold", "value": 0.99, "reason": "too many false alarms"}
    with secured.client("supervisor") as supervisor:
        assert supervisor.post("/v1/rules/overrides", json=body).status_code == 403
    with secured.client("admin") as admin:
        assert admin.post("/v1/rules/overrides", json={**body, "rule": "nope"}).status_code == 404
        assert admin.post("/v1/rules/overrides", json={**body, "param": "nope"}).status_code == 422
        assert admin.post("/v1/rules/overrides", json={**body, "value": 1.5}).status_code == 422
        # escalate's sustained_turns is a whole number >= 2: the pack refuses 0.5, so the file is not written.
        refused = admin.post("/v1/rules/overrides", json={"rule": "escalate", "param": "sustained_turns", "value": 0.5})
        assert refused.status_code == 422 and refused.json()["code"] == "invalid_override"
        assert not secured.server.settings.override_file.exists()
        applied = admin.post("/v1/rules/overrides", json=body)
        assert applied.status_code == 200, applied.text
        audit = admin.get("/v1/rules/overrides/audit").json()
    change = applied.json()
    assert (change["rule"], change["param"], change["old"], change["new"]) == ("anger", "threshold", 0.6, 0.99)
    assert change["key_id"].startswith("key_") and audit == [change]
    written = yaml.safe_load(secured.server.settings.override_file.read_text())
    assert written["rules"] == [{"id": "anger", "params": {"threshold": 0.99}}]
    with secured.client("ingest") as ingest:
        ingest.post("/v1/conversations", json={"conversation_id": "c9", "customer": {"id": "u9", "name": "Li"},
                                               "agent": {"id": "a1"}})  # fmt: skip
        two_words = "This is ridiculous and unacceptable"  # KeywordScorer: anger 0.95, now below the threshold
        assert not [a for a in say(ingest, "c9", "m1", two_words) if a["rule"] == "anger"]
