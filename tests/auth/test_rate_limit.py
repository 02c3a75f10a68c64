"""Per-key ingest rate limits: 429 with Retry-After over REST, an error event on the stream."""

from __future__ import annotations

import json

import httpx
from websockets.sync.client import connect

from tests.auth.conftest import make_key
from tests.conftest import LiveServer, make_settings
from tests.fakes import KeywordScorer


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
