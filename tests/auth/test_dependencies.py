"""The route guards over real HTTP and websockets: no or wrong credential is 401 (or a refused handshake)
and the refusal leaks nothing."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.sync.client import connect

from tests.auth.conftest import Secured, seed, ws_refused

DATA_ROUTES = [
    ("GET", "/v1/alerts"),
    ("GET", "/v1/conversations"),
    ("GET", "/v1/conversations/c1"),
    ("POST", "/v1/conversations"),
    ("POST", "/v1/messages"),
    ("POST", "/v1/conversations/c1/end"),
    ("GET", "/v1/alerts/acks?ids=1-0"),
    ("POST", "/v1/alerts/1-0/ack"),
    ("GET", "/v1/webhooks"),
    ("POST", "/v1/webhooks"),
    ("GET", "/v1/keys"),
    ("POST", "/v1/keys"),
    ("POST", "/v1/auth/token"),
]


@pytest.mark.parametrize("credential", [None, "cwk_not-a-real-key", "cwt_forged.token", "Basic abc"])
def test_missing_or_wrong_credentials_get_401_and_no_data(secured: Secured, credential: str | None) -> None:
    """Every data route answers 401 with a Bearer challenge and an error body that names nothing of the data."""
    seed(secured)
    headers = {"authorization": credential if credential and " " in credential else f"Bearer {credential}"}
    with httpx.Client(base_url=secured.server.http, headers=headers if credential else {}) as client:
        for method, path in DATA_ROUTES:
            r = client.request(method, path, json={})
            assert r.status_code == 401, (method, path, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
            assert set(r.json()) == {"code", "detail"} and r.json()["code"] == "unauthorized"
            assert "Maria" not in r.text and "c1" not in r.text and "furious" not in r.text
            assert credential is None or credential.split(" ")[-1] not in r.text
        assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200


def test_websockets_check_the_credential_before_accept(secured: Secured) -> None:
    """No key, a wrong key, the wrong role, or another agent's key: the handshake is refused; the right ones
    connect by header or by ?token=, and an agent receives its own nudges."""
    ws, k = secured.server.ws, secured.keys
    assert ws_refused(f"{ws}/v1/alerts")
    assert ws_refused(f"{ws}/v1/alerts?token=cwk_wrong")
    assert ws_refused(f"{ws}/v1/alerts?token={k['ingest']}")
    assert ws_refused(f"{ws}/v1/alerts?token={k['a1']}")
    assert ws_refused(f"{ws}/v1/agents/a2/nudges?token={k['a1']}")
    assert ws_refused(f"{ws}/v1/agents/a1/nudges")
    assert ws_refused(f"{ws}/v1/stream?token={k['supervisor']}")
    with (
        connect(f"{ws}/v1/agents/a1/nudges?token={k['a1']}") as mine,
        connect(f"{ws}/v1/alerts", additional_headers={"authorization": f"Bearer {k['supervisor']}"}) as feed,
        connect(f"{ws}/v1/agents/a1/nudges?token={k['supervisor']}") as watched,
    ):
        alert = seed(secured)
        assert json.loads(mine.recv(timeout=10))["alert"]["id"] == alert["id"]
        assert json.loads(feed.recv(timeout=10))["alert"]["id"] == alert["id"]
        assert json.loads(watched.recv(timeout=10))["alert"]["id"] == alert["id"]
    with connect(f"{ws}/v1/stream?token={k['ingest']}") as stream:
        stream.send(json.dumps({"type": "conversation.end", "conversation_id": "c1"}))
        assert json.loads(stream.recv(timeout=10))["type"] == "conversation.ended"
