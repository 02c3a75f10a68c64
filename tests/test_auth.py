"""Access control over real HTTP and websockets: keys and roles, tokens, refusals that leak nothing, rate
limits, the open-only-on-loopback rule and ``calmwatch keys``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from redis.asyncio import Redis
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from monitor.auth import (
    Authenticator,
    KeyStore,
    Principal,
    Role,
    TokenSigner,
    check_exposure,
    is_loopback,
)
from monitor.errors import ConfigurationError, UnauthenticatedError
from monitor.runtime import open_runtime
from tests.conftest import LiveServer, make_settings
from tests.fakes import KeywordScorer

ANGRY = "This is ridiculous and unacceptable, I am furious"


def make_key(redis_url: str, role: Role, agent_id: str | None = None) -> str:
    async def create() -> str:
        redis = Redis.from_url(redis_url)
        try:
            key, _ = await KeyStore(redis).create(role, agent_id=agent_id)
            return key
        finally:
            await redis.aclose()

    return asyncio.run(create())


class Secured:
    def __init__(self, server: LiveServer, keys: dict[str, str]) -> None:
        self.server = server
        self.keys = keys

    def client(self, who: str | None) -> httpx.Client:
        headers = {"authorization": f"Bearer {self.keys.get(who, who)}"} if who else {}
        return httpx.Client(base_url=self.server.http, headers=headers)


@pytest.fixture
def secured(flushed_redis: str) -> Iterator[Secured]:
    """A service with one key per role (and two agents), started after the keys exist."""
    keys = {
        "admin": make_key(flushed_redis, "admin"),
        "ingest": make_key(flushed_redis, "ingest"),
        "supervisor": make_key(flushed_redis, "supervisor"),
        "a1": make_key(flushed_redis, "agent", "a1"),
        "a2": make_key(flushed_redis, "agent", "a2"),
    }
    with LiveServer(make_settings(flushed_redis), KeywordScorer()) as server:
        yield Secured(server, keys)


def seed(secured: Secured) -> dict[str, Any]:
    """A conversation of agent a1 with one angry turn; returns the anger alert."""
    with secured.client("ingest") as client:
        r = client.post("/v1/conversations", json={"conversation_id": "c1", "customer": {"id": "u1", "name": "Maria"},
                                                   "agent": {"id": "a1", "name": "Sam"}})  # fmt: skip
        assert r.status_code == 201, r.text
        r = client.post("/v1/messages", json={"conversation_id": "c1", "message_id": "m1", "role": "customer",
                                              "text": ANGRY})  # fmt: skip
        assert r.status_code == 200, r.text
        alert: dict[str, Any] = next(a for a in r.json()["alerts"] if a["rule"] == "anger")
        return alert


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


def test_roles_get_403_outside_their_remit(secured: Secured) -> None:
    """ingest cannot read, supervisors cannot ingest or administer, agents can do neither; admin can do all."""
    alert = seed(secured)
    forbidden = {
        "ingest": [("GET", "/v1/alerts"), ("GET", "/v1/conversations/c1"), ("GET", "/v1/webhooks")],
        "supervisor": [("POST", "/v1/messages"), ("GET", "/v1/webhooks"), ("GET", "/v1/keys")],
        "a1": [("GET", "/v1/alerts"), ("GET", "/v1/conversations"), ("POST", "/v1/messages"), ("GET", "/v1/keys")],
    }
    for who, routes in forbidden.items():
        with secured.client(who) as client:
            for method, path in routes:
                r = client.request(method, path, json={})
                assert r.status_code == 403, (who, method, path, r.text)
                assert r.json()["code"] == "forbidden" and "furious" not in r.text
    with secured.client("supervisor") as client:
        assert [a["id"] for a in client.get("/v1/alerts").json()] == [a["id"] for a in [alert]]
        assert client.get("/v1/conversations/c1").json()["meta"]["customer"]["name"] == "Maria"
        assert client.post(f"/v1/alerts/{alert['id']}/ack", json={"by": "Dana"}).status_code == 200
    with secured.client("admin") as client:
        assert client.get("/v1/alerts").status_code == 200 and client.get("/v1/webhooks").status_code == 200
        assert client.get("/v1/keys").status_code == 200


def ws_refused(url: str, headers: dict[str, str] | None = None) -> bool:
    """True when the handshake is refused (the server closes before accept, so no socket is ever open)."""
    try:
        with connect(url, additional_headers=headers or {}, open_timeout=10):
            return False
    except InvalidStatus as exc:
        return exc.response.status_code == 403


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


def test_admin_api_creates_agent_keys_that_see_only_their_agent(secured: Secured) -> None:
    """An admin makes an agent key over the API (shown once); it reads its agent's nudges and nothing else."""
    with secured.client("admin") as admin:
        created = admin.post("/v1/keys", json={"role": "agent", "agent_id": "a7", "name": "Sam's sidebar"}).json()
        assert created["key"].startswith("cwk_") and created["agent_id"] == "a7"
        assert admin.post("/v1/keys", json={"role": "agent"}).status_code == 422
        assert admin.post("/v1/keys", json={"role": "emperor"}).status_code == 422
    assert not ws_refused(f"{secured.server.ws}/v1/agents/a7/nudges?token={created['key']}")
    assert ws_refused(f"{secured.server.ws}/v1/agents/a1/nudges?token={created['key']}")


def test_ingest_rate_limit_answers_429_with_retry_after(flushed_redis: str) -> None:
    """Past its burst a key gets 429 with Retry-After (REST) or a rate_limited error event (stream); another
    key's bucket is untouched."""
    first, second = make_key(flushed_redis, "ingest"), make_key(flushed_redis, "ingest")
    settings = make_settings(flushed_redis, ingest_rate_per_s=0.2, ingest_burst=2)
    with LiveServer(settings, KeywordScorer()) as server:
        start = {"conversation_id": "c1", "customer": {"id": "u1"}, "agent": {"id": "a1"}}
        with httpx.Client(base_url=server.http, headers={"authorization": f"Bearer {first}"}) as client:
            assert client.post("/v1/conversations", json=start).status_code == 201
            message = {"conversation_id": "c1", "message_id": "m1", "role": "customer", "text": "hello"}
            assert client.post("/v1/messages", json=message).status_code == 200
            limited = client.post("/v1/messages", json={**message, "message_id": "m2"})
            assert limited.status_code == 429
            assert limited.json()["code"] == "rate_limited" and int(limited.headers["retry-after"]) >= 1
        with connect(f"{server.ws}/v1/stream?token={first}") as stream:
            stream.send(json.dumps({"type": "message", **message, "message_id": "m3"}))
            reply = json.loads(stream.recv(timeout=10))
            assert reply["type"] == "error" and reply["code"] == "rate_limited" and reply["message_id"] == "m3"
            assert reply["retry_after_s"] > 0
        with httpx.Client(base_url=server.http, headers={"authorization": f"Bearer {second}"}) as client:
            assert client.post("/v1/messages", json={**message, "message_id": "m4"}).status_code == 200


async def test_no_keys_on_a_public_interface_refuses_to_start(flushed_redis: str) -> None:
    """Bound to 0.0.0.0 with no keys the runtime raises ConfigurationError; a key, or an admin key in the
    settings, lets it start, and the bootstrap key authenticates as admin."""
    public = make_settings(flushed_redis, host="0.0.0.0")
    with pytest.raises(ConfigurationError, match=r"refusing to listen on 0\.0\.0\.0"):
        async with open_runtime(public, scorer=KeywordScorer()):
            pass
    bootstrap = make_settings(flushed_redis, host="0.0.0.0", admin_key="cwk_bootstrap-admin-key-for-compose")
    async with open_runtime(bootstrap, scorer=KeywordScorer()) as rt:
        principal = await rt.auth.authenticate("cwk_bootstrap-admin-key-for-compose")
        assert principal.role == "admin" and not await rt.auth.is_open()
        token, _ = rt.auth.signer.issue(principal, 60)
        assert (await rt.auth.authenticate(token)).role == "admin"
        replaced = Authenticator(rt.redis, bootstrap.model_copy(update={"admin_key": "cwk_new"}), rt.auth.signer)
        with pytest.raises(UnauthenticatedError):
            await replaced.authenticate(token)  # a token of the previous admin key dies with it
    redis = Redis.from_url(flushed_redis)
    await KeyStore(redis).create("ingest")
    await redis.aclose()
    async with open_runtime(public, scorer=KeywordScorer()) as rt:
        assert not await rt.auth.is_open()


async def test_open_on_loopback_is_loud_and_still_checks_credentials(flushed_redis: str) -> None:
    """With no keys on 127.0.0.1 everyone is admitted and a warning says so; a credential that is sent is
    still checked."""
    with structlog.testing.capture_logs() as logs:
        await check_exposure(make_settings(flushed_redis), 0)
    assert any("NO API KEYS" in entry["event"] for entry in logs)
    async with open_runtime(make_settings(flushed_redis), scorer=KeywordScorer()) as rt:
        assert await rt.auth.is_open()
        assert (await rt.auth.authenticate(None, client_host="127.0.0.1")).role == "admin"
        with pytest.raises(UnauthenticatedError):  # however the server was really bound, open means local only
            await rt.auth.authenticate(None, client_host="192.168.1.20")
        with pytest.raises(Exception, match="unknown API key"):
            await rt.auth.authenticate("cwk_wrong")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5") and not is_loopback("example.com")


def _calmwatch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_cli_keys_create_list_revoke_and_serve_refusal(flushed_redis: str) -> None:
    """`calmwatch keys create` prints only the key, which then works; list never shows it; revoke ends it;
    `calmwatch serve --host 0.0.0.0` with no keys exits with a clear message."""
    refused = _calmwatch("serve", "--host", "0.0.0.0", "--port", "1", "--redis-url", flushed_redis, "--scorer", "vader")
    assert refused.returncode == 1 and "refusing to listen on 0.0.0.0" in refused.stderr
    created = _calmwatch("keys", "create", "--role", "supervisor", "--name", "ops", "--redis-url", flushed_redis)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("cwk_") and "\n" not in key
    listed = _calmwatch("keys", "list", "--redis-url", flushed_redis)
    assert "supervisor" in listed.stdout and "ops" in listed.stdout and key not in listed.stdout
    with (
        LiveServer(make_settings(flushed_redis), KeywordScorer()) as server,
        httpx.Client(base_url=server.http, headers={"authorization": f"Bearer {key}"}) as client,
    ):
        assert client.get("/v1/alerts").status_code == 200
        key_id = listed.stdout.split("\t")[0]
        assert _calmwatch("keys", "revoke", key_id, "--redis-url", flushed_redis).returncode == 0
        assert client.get("/v1/alerts").status_code == 401
    bad = _calmwatch("keys", "create", "--role", "agent", "--redis-url", flushed_redis)
    assert bad.returncode == 2 and "--agent-id" in bad.stderr


def test_secrets_never_reach_the_logs(flushed_redis: str) -> None:
    """Keys, tokens and webhook secrets used through a whole flow appear in no log event."""
    from tests.test_webhooks import Receiver, wait_for

    admin = make_key(flushed_redis, "admin")
    receiver = Receiver().start()
    try:
        with (
            structlog.testing.capture_logs() as logs,
            LiveServer(make_settings(flushed_redis, webhook_poll_s=0.05), KeywordScorer()) as server,
            httpx.Client(base_url=server.http, headers={"authorization": f"Bearer {admin}"}) as client,
        ):
            endpoint = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["alert.raised"]}).json()
            token = client.post("/v1/auth/token").json()["token"]
            client.post(f"/v1/webhooks/{endpoint['id']}/test")
            client.get("/v1/alerts", headers={"authorization": "Bearer cwk_a-wrong-key"})
            wait_for(lambda: receiver.received, what="the test delivery")
        text = repr(logs)
        assert any(entry["event"] == "webhook attempt" for entry in logs)  # the capture did see the service
        for secret in (admin, token, endpoint["secret"], "cwk_a-wrong-key"):
            assert secret not in text
    finally:
        receiver.stop()


async def test_redis_password_is_redacted_from_logs_and_errors() -> None:
    """A Redis URL's password never reaches the start-up error (or the 'ready' log line, which uses the same)."""
    from monitor.errors import RedisUnavailableError
    from monitor.runtime import connect_redis, redacted

    assert redacted("redis://:s3cret@redis:6379/0") == "redis://:***@redis:6379/0"
    assert redacted("unix:///tmp/x/redis.sock") == "unix:///tmp/x/redis.sock"
    with pytest.raises(RedisUnavailableError) as failed:
        await connect_redis("redis://user:s3cret@127.0.0.1:1/0", attempts=1)
    assert "s3cret" not in str(failed.value) and "user:***@127.0.0.1:1" in str(failed.value)
