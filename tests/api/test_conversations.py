"""What the conversation and message endpoints say to a caller who got something wrong, and how open mode ends."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from monitor.auth import KeyStore
from tests.conftest import LiveServer

START = {"conversation_id": "c1", "customer": {"id": "u1", "name": "Ana"}, "agent": {"id": "a1"}}
MESSAGE = {"conversation_id": "c1", "message_id": "m1", "role": "customer", "text": "This is ridiculous, I am furious"}


def test_a_message_to_an_ended_conversation_is_409(live_server: LiveServer) -> None:
    """After the end, a message is refused with 409 conversation_ended and raises nothing; the history stays."""
    with httpx.Client(base_url=live_server.http) as client:
        assert client.post("/v1/conversations", json=START).status_code in (200, 201)
        assert client.post("/v1/conversations/c1/end").status_code == 200
        late = client.post("/v1/messages", json=MESSAGE)
        assert late.status_code == 409, late.text
        assert late.json()["code"] == "conversation_ended" and late.json()["message_id"] == "m1"
        assert client.get("/v1/conversations/c1").json()["turns"] == []
        assert client.get("/v1/alerts").json() == []


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_without_a_json_content_type_says_so(live_server: LiveServer, content_type: str | None) -> None:
    """A JSON body sent without `Content-Type: application/json` is told exactly that, not "Input should be a
    valid dictionary"."""
    import json

    headers = {"content-type": content_type} if content_type else {}
    with httpx.Client(base_url=live_server.http) as client:
        r = client.post("/v1/conversations", content=json.dumps(START).encode(), headers=headers)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "invalid_json"
    assert "Content-Type: application/json" in body["detail"] and "dictionary" not in body["detail"]
    assert (content_type or "no Content-Type") in body["detail"]


def test_creating_the_first_key_closes_the_sockets_opened_in_open_mode(live_server: LiveServer) -> None:
    """Open mode ends with the first API key: the feeds opened without a key close with 1008 (policy)."""
    feed = connect(live_server.ws + "/v1/alerts", open_timeout=10)
    nudges = connect(live_server.ws + "/v1/agents/a1/nudges", open_timeout=10)

    async def create_key() -> None:
        redis = Redis.from_url(live_server.settings.redis_url or "", decode_responses=True)
        try:
            await KeyStore(redis).create("admin")
        finally:
            await redis.aclose()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, create_key()).result()
    for ws in (feed, nudges):
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
