"""Issue 20, item 13: no credential reaches a log line (uvicorn's included), and a token cannot be renewed
past its key's session."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.faults.processes import Service

ADMIN = "cwk_fault-test-admin-key-0123456789abcdef"


@pytest.mark.slow
def test_keys_and_tokens_never_reach_the_service_log() -> None:
    """Keys and tokens sent as headers and as ?token= (websockets, REST) appear in no line the service writes."""
    with tempfile.TemporaryDirectory(prefix="cw-", dir="/tmp") as tmp:
        service = Service(Path(tmp), CALMWATCH_ADMIN_KEY=ADMIN, CALMWATCH_LOG_LEVEL="DEBUG").start()
        try:
            headers = {"authorization": f"Bearer {ADMIN}"}
            key = httpx.post(f"{service.http}/v1/keys", json={"role": "supervisor"}, headers=headers).json()["key"]
            token = httpx.post(f"{service.http}/v1/auth/token", headers={"authorization": f"Bearer {key}"}).json()
            for credential in (key, token["token"]):
                with connect(f"{service.ws}/v1/alerts?since=0&token={credential}", open_timeout=10) as ws:
                    ws.send("ping")
                httpx.get(f"{service.http}/v1/alerts", params={"token": credential})
            httpx.get(f"{service.http}/v1/alerts", headers={"authorization": "Bearer cwk_wrong-key-in-the-log"})
        finally:
            service.stop()
        log = service.log_path.read_text()
    assert "token=***" in log  # uvicorn's websocket lines are there, redacted
    for secret in (ADMIN, key, token["token"], "cwk_wrong-key-in-the-log"):
        assert secret not in log
        assert secret.partition("_")[2][:12] not in log  # not even part of one


@pytest.mark.slow
def test_a_token_renews_itself_only_within_its_keys_session() -> None:
    """Renewing with a token keeps the key's session; once it is over the token is refused and the key works."""
    with tempfile.TemporaryDirectory(prefix="cw-", dir="/tmp") as tmp:
        env = {"CALMWATCH_ADMIN_KEY": ADMIN, "CALMWATCH_TOKEN_MAX_SESSION_S": "3", "CALMWATCH_TOKEN_TTL_S": "60"}
        with Service(Path(tmp), **env) as service:
            url = f"{service.http}/v1/auth/token"
            first = httpx.post(url, headers={"authorization": f"Bearer {ADMIN}"}).json()
            renewed = httpx.post(url, headers={"authorization": f"Bearer {first['token']}"}).json()
            assert renewed["expires_at"] == first["expires_at"]  # capped at the session's end, not pushed on
            time.sleep(3.5)  # the session (3 s) ends; the tokens' own lifetime (60 s) would not have
            refused = httpx.post(url, headers={"authorization": f"Bearer {renewed['token']}"})
            assert refused.status_code == 401 and refused.json()["code"] == "unauthorized", refused.text
            assert httpx.post(url, headers={"authorization": f"Bearer {ADMIN}"}).status_code == 200
