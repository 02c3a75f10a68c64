"""Chatwoot end to end, as docs/connectors.md sets it up: signed webhooks of an escalating conversation in,
scored, alerts on the console, exactly one private note per alert on (a fake) Chatwoot, reconciliation of a
dropped webhook, and refusals of bad signatures."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from monitor.schemas import SEVERITY_RANK
from tests.conftest import LiveServer, make_settings
from tests.connectors.fake_chatwoot import TOKEN, FakeChatwoot, fake_chatwoot
from tests.connectors.platforms import chatwoot_headers, dumps, fixture
from tests.connectors.service import conversation, wait_for
from tests.fakes import KeywordScorer

__all__ = ["fake_chatwoot"]
SECRET = "cw-webhook-secret-of-our-own"
CID = "chatwoot:2:41"
ROUTE = "/v1/connectors/chatwoot?account_id=2"
ESCALATING = [
    ("incoming", "Hi, my parcel has not arrived yet"),
    ("outgoing", "Sorry to hear that, let me check"),
    ("incoming", "It is still not here and nobody answers, I have been waiting for weeks"),
    ("incoming", "This is ridiculous and unacceptable, I am furious"),
    ("incoming", "Useless! The worst service, I hate this, I want a refund now"),
]


@pytest.fixture
def service(flushed_redis: str, fake_chatwoot: FakeChatwoot) -> Iterator[LiveServer]:
    settings = make_settings(
        flushed_redis,
        chatwoot_url=fake_chatwoot.url,
        chatwoot_api_token=TOKEN,
        chatwoot_webhook_secret=SECRET,
        chatwoot_note_interval_s=0.0,
        chatwoot_reconcile_interval_s=0.3,
        webhook_retry_schedule_s=[0.2, 0.2, 0.2],
        webhook_poll_s=0.05,
    )
    with LiveServer(settings, KeywordScorer()) as server:
        yield server


def send(client: httpx.Client, payload: dict[str, Any], *, secret: str = SECRET) -> httpx.Response:
    body = dumps(payload)
    return client.post(ROUTE, content=body, headers=chatwoot_headers(secret, body))


def message(number: int, kind: str, text: str) -> dict[str, Any]:
    payload = fixture("chatwoot_message_created.json")
    payload.update(id=9000 + number, content=text, message_type=kind)
    if kind == "outgoing":
        payload["sender"] = {"id": 7, "name": "Ravi Menon", "type": "user"}
    return payload


def api_message(number: int, kind: int, text: str) -> dict[str, Any]:
    """A message as Chatwoot's messages API returns it (integer message_type, epoch created_at)."""
    sender = {"id": 512, "name": "Dana Kowalczyk", "type": "contact"} if kind == 0 else {"id": 7, "type": "user"}
    return {
        "id": 9000 + number,
        "content": text,
        "account_id": 2,
        "conversation_id": 41,
        "message_type": kind,
        "content_type": "text",
        "private": False,
        "created_at": 1764494000 + number,
        "sender": sender,
    }


def noted(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in alerts if SEVERITY_RANK[a["severity"]] >= SEVERITY_RANK["warning"]]


def test_escalating_conversation_gets_one_private_note_per_alert(
    service: LiveServer, fake_chatwoot: FakeChatwoot
) -> None:
    """Webhooks in -> scored turns and alerts on the console -> exactly one private note per alert, no re-ingest."""
    with httpx.Client(base_url=service.http) as client:
        assert send(client, fixture("chatwoot_conversation_created.json")).status_code == 200
        for number, (kind, text) in enumerate(ESCALATING, start=1):
            answer = send(client, message(number, kind, text))
            assert answer.status_code == 200 and answer.json()["queued"] == 1
        detail = conversation(client, CID, turns=len(ESCALATING), alerts=1)
        assert [t["role"] for t in detail["turns"]] == ["customer", "agent", "customer", "customer", "customer"]
        assert detail["meta"]["customer"]["name"] == "Dana Kowalczyk" and detail["meta"]["agent"]["name"] == "Ravi"
        expected = noted(detail["alerts"])
        assert expected, "the escalating conversation raised no warning or critical alert"
        wait_for(lambda: len(fake_chatwoot.notes) >= len(expected), message="the notes")
        # the re-delivered webhook and Calmwatch's own note coming back as message_created change nothing
        assert send(client, message(5, *ESCALATING[4])).json()["duplicates"] == 1
        own = fake_chatwoot.notes[0]
        echo = message(99, "outgoing", own["body"]["content"]) | {"id": own["id"], "private": True}
        assert send(client, echo).json()["queued"] == 0
        console = {a["id"] for a in client.get("/v1/alerts").json() if a["conversation_id"] == CID}
        assert console == {a["id"] for a in detail["alerts"]}
        time.sleep(0.5)  # a second note for any alert would be out by now (the sender polls every 0.05 s)
        assert len(fake_chatwoot.notes) == len(expected)
        assert {n["body"]["private"] for n in fake_chatwoot.notes} == {True}
        for alert in expected:
            (note,) = [n for n in fake_chatwoot.notes if f"alert {alert['id']}" in n["body"]["content"]]
            assert alert["nudge"] in note["body"]["content"] and note["conversation"] == "41"
        assert len(conversation(client, CID, turns=len(ESCALATING))["turns"]) == len(ESCALATING)


def test_dropped_webhook_is_recovered_by_reconciliation(service: LiveServer, fake_chatwoot: FakeChatwoot) -> None:
    """A message whose webhook never came is read from the API and scored once; private notes are not turns."""
    with httpx.Client(base_url=service.http) as client:
        send(client, fixture("chatwoot_conversation_created.json"))
        send(client, message(1, "incoming", "Hello, where is my order?"))
        conversation(client, CID, turns=1)
        fake_chatwoot.add_message("2", "41", api_message(1, 0, "Hello, where is my order?"))
        fake_chatwoot.add_message("2", "41", api_message(2, 0, "Still nothing, this is ridiculous and unacceptable"))
        fake_chatwoot.add_message("2", "41", api_message(3, 1, "a private remark") | {"private": True})
        detail = conversation(client, CID, turns=2)
        texts = [t["text"] for t in detail["turns"]]
        assert texts == ["Hello, where is my order?", "Still nothing, this is ridiculous and unacceptable"]
        assert detail["turns"][1]["message_id"] == "chatwoot:9002"
        time.sleep(0.8)  # two more reconciliation rounds: nothing is ingested twice
        assert len(conversation(client, CID, turns=2)["turns"]) == 2


def test_note_that_reached_chatwoot_but_lost_its_answer_is_not_posted_twice(
    service: LiveServer, fake_chatwoot: FakeChatwoot
) -> None:
    """Chatwoot keeps the note but answers 500: the retry finds it by its alert id instead of posting again."""
    fake_chatwoot.fail_next, fake_chatwoot.keep_failed = 1, True
    with httpx.Client(base_url=service.http) as client:
        send(client, fixture("chatwoot_conversation_created.json"))
        send(client, message(1, "incoming", "This is ridiculous and unacceptable, I am furious"))
        detail = conversation(client, CID, turns=1, alerts=1)
        expected = noted(detail["alerts"])
        assert expected
        wait_for(lambda: len(fake_chatwoot.notes) >= len(expected), message="the notes")
        time.sleep(0.6)  # past the retry delay
        assert len(fake_chatwoot.notes) == len(expected)


def test_failed_note_is_retried(service: LiveServer, fake_chatwoot: FakeChatwoot) -> None:
    """A 500 that kept nothing is retried on the schedule until Chatwoot takes the note."""
    fake_chatwoot.fail_next = 2
    with httpx.Client(base_url=service.http) as client:
        send(client, fixture("chatwoot_conversation_created.json"))
        send(client, message(1, "incoming", "This is ridiculous and unacceptable, I am furious"))
        expected = noted(conversation(client, CID, turns=1, alerts=1)["alerts"])
        wait_for(lambda: len(fake_chatwoot.notes) == len(expected), message="the retried notes")
        assert fake_chatwoot.fail_next == 0


def test_bad_signatures_are_refused_with_401(service: LiveServer) -> None:
    """Wrong secret, stale timestamp, no signature: 401 with the reason; nothing is queued."""
    payload = message(1, "incoming", "This is ridiculous and unacceptable, I am furious")
    body = dumps(payload)
    with httpx.Client(base_url=service.http) as client:
        wrong = send(client, payload, secret="not-the-secret")
        assert wrong.status_code == 401 and wrong.json()["code"] == "bad_signature"
        stale = client.post(ROUTE, content=body, headers=chatwoot_headers(SECRET, body, at=1_000_000_000))
        assert stale.status_code == 401 and "stale" in stale.json()["detail"]
        bare = client.post(ROUTE, content=body, headers={"content-type": "application/json"})
        assert bare.status_code == 401
        assert client.get(f"/v1/conversations/{CID}").status_code == 404
        metrics = client.get("/metrics").text
        assert 'calmwatch_connector_events_total{outcome="refused",platform="chatwoot"} 3.0' in metrics


def test_without_a_secret_the_connector_needs_open_mode(flushed_redis: str) -> None:
    """No secret configured and API keys in use: the connector refuses everything (it has no other credential)."""
    settings = make_settings(flushed_redis, admin_key="cwk_admin_of_our_own_0123456789")
    with LiveServer(settings, KeywordScorer()) as server, httpx.Client(base_url=server.http) as client:
        body = json.dumps(fixture("chatwoot_message_created.json")).encode()
        refused = client.post(ROUTE, content=body, headers={"content-type": "application/json"})
        assert refused.status_code == 401 and "no secret" in refused.json()["detail"]
