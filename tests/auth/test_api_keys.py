"""API keys: the store (hashes only, revoke by id), `calmwatch keys create/list/revoke`, and the serve refusal
with none on a public interface."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from redis.asyncio import Redis

from monitor import redis_keys
from monitor.auth.api_keys import KeyStore, hash_key
from tests.conftest import LiveServer, make_settings
from tests.fakes import KeywordScorer


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


async def test_key_store_keeps_only_hashes_and_revokes_by_id(flushed_redis: str) -> None:
    """A created key is found by its value, listed without it, stored only as its SHA-256, and gone once
    revoked; bad role/agent combinations are refused."""
    redis = Redis.from_url(flushed_redis, decode_responses=True)
    try:
        store = KeyStore(redis)
        key, record = await store.create("agent", agent_id="a1", name="Sam's sidebar")
        assert key.startswith("cwk_") and record.prefix == key[:10] and record.agent_id == "a1"
        assert await store.lookup(key) == record and await store.exists(record.id)
        assert [r.id for r in await store.records()] == [record.id] and await store.count() == 1
        stored = await redis.hgetall(redis_keys.API_KEYS)
        assert list(stored) == [hash_key(key)] and key not in repr(stored)
        for role, agent_id in (("agent", None), ("supervisor", "a1"), ("emperor", None)):
            with pytest.raises(ValueError):
                await store.create(role, agent_id=agent_id)  # type: ignore[arg-type]
        assert await store.revoke(record.id) and not await store.revoke(record.id)
        assert await store.lookup(key) is None and not await store.exists(record.id) and await store.count() == 0
    finally:
        await redis.aclose()
