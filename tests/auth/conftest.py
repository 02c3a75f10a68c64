"""Shared by the access-control tests: a service with one key per role, and helpers to use it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from monitor.auth import KeyStore, Role
from tests.conftest import LiveServer, make_settings
from tests.fakes import KeywordScorer

ANGRY = "This is ridiculous and unacceptable, I am furious"


def make_key(redis_url: str, role: Role, agent_id: str | None = None) -> str:
    async def create() -> str:
        redis = Redis.from_url(redis_url, decode_responses=True)
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


def ws_refused(url: str, headers: dict[str, str] | None = None) -> bool:
    """True when the handshake is refused (the server closes before accept, so no socket is ever open)."""
    try:
        with connect(url, additional_headers=headers or {}, open_timeout=10):
            return False
    except InvalidStatus as exc:
        return exc.response.status_code == 403
