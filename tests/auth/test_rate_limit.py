"""Per-key ingest rate limits: 429 with Retry-After over REST, an error event on the stream."""

from __future__ import annotations

import json

import httpx
import pytest
from redis.asyncio import Redis
from websockets.sync.client import connect

from monitor.auth.policy import OPEN_ID, Principal
from monitor.auth.rate_limit import IngestRateLimit, retry_after_header
from monitor.errors import RateLimitedError
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


async def test_bucket_refuses_past_its_burst_per_key(flushed_redis: str) -> None:
    """A key gets `burst` events at once, then RateLimitedError saying when the next one is due; another key
    and the open principal are untouched."""
    redis = Redis.from_url(flushed_redis, decode_responses=True)
    try:
        limit = IngestRateLimit(redis, rate_per_s=0.5, burst=2)
        first, second = Principal(key_id="key_1", role="ingest"), Principal(key_id="key_2", role="ingest")
        await limit.take(first)
        await limit.take(first)
        with pytest.raises(RateLimitedError) as refused:
            await limit.take(first)
        assert 0 < refused.value.retry_after_s <= 2.0 and refused.value.code == "rate_limited"
        await limit.take(second)
        for _ in range(5):
            await limit.take(Principal(key_id=OPEN_ID, role="admin"))
    finally:
        await redis.aclose()


@pytest.mark.parametrize(("seconds", "header"), [(0.0, "1"), (0.2, "1"), (1.0, "1"), (1.01, "2"), (4.5, "5")])
def test_retry_after_is_whole_seconds_rounded_up(seconds: float, header: str) -> None:
    """Retry-After never tells a client to come back before its bucket has a token again (and never 0)."""
    assert retry_after_header(seconds) == header
