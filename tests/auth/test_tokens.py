"""Short-lived signed tokens: they work like their key, die with it, and refuse tampering, expiry and
foreign secrets."""

from __future__ import annotations

import json

from websockets.sync.client import connect

from monitor.auth import Principal, TokenSigner
from tests.auth.conftest import Secured, seed, ws_refused


def test_tokens_work_like_their_key_and_die_with_it(secured: Secured) -> None:
    """A token from POST /v1/auth/token reads like its supervisor key (REST and ?token=), until the key is
    revoked; a tampered token is refused."""
    seed(secured)
    with secured.client("supervisor") as client:
        issued = client.post("/v1/auth/token").json()
    assert issued["role"] == "supervisor" and issued["token"].startswith("cwt_")
    token = issued["token"]
    with secured.client(token) as client:
        assert client.get("/v1/alerts").status_code == 200
        assert client.get("/v1/auth/whoami").json()["role"] == "supervisor"
        assert client.post("/v1/messages", json={}).status_code == 403
    with connect(f"{secured.server.ws}/v1/alerts?since=0&token={token}") as feed:
        assert json.loads(feed.recv(timeout=10))["type"] == "alert"
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with secured.client(tampered) as client:
        assert client.get("/v1/alerts").status_code == 401
    with secured.client("admin") as admin:
        [record] = [r for r in admin.get("/v1/keys").json() if r["role"] == "supervisor"]
        assert "key" not in record and secured.keys["supervisor"] not in admin.get("/v1/keys").text
        assert admin.delete(f"/v1/keys/{record['id']}").status_code == 204
    for credential in (token, secured.keys["supervisor"]):
        with secured.client(credential) as client:
            assert client.get("/v1/alerts").status_code == 401
    assert ws_refused(f"{secured.server.ws}/v1/alerts?token={token}")


def test_token_signer_refuses_expired_and_foreign_tokens() -> None:
    """A token verifies only with its own secret and only until it expires."""
    signer = TokenSigner(b"s" * 32)
    token, _ = signer.issue(Principal(key_id="key_1", role="agent", agent_id="a1"), ttl_s=60, now=1000)
    assert signer.verify(token, now=1030) == Principal(key_id="key_1", role="agent", agent_id="a1")
    assert signer.verify(token, now=1061) is None
    assert TokenSigner(b"t" * 32).verify(token, now=1030) is None
    assert signer.verify("cwt_e30.", now=1030) is None
