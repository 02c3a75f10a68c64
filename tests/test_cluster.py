"""Issue 16, item 3: the service on a real three-master Redis Cluster (Debian's stock redis-server), pointed at
one node by CALMWATCH_REDIS_URL and nothing else: turns, alerts, the live feed, acknowledgements, webhooks, the
board, API keys, and one conversation's turns over two processes."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from websockets.sync.client import connect

from monitor.auth.api_keys import KeyStore
from monitor.runtime import connect_redis
from tests.conftest import LiveServer
from tests.delivery.webhook_receiver import Receiver, angry, create_endpoint, serve, start, wait_for
from tests.faults.processes import STOCK_REDIS, RedisCluster
from tests.faults.test_scale_out import alerts_of, reference_alerts, send_in_order, services_on
from tests.faults.traffic import all_alerts

pytestmark = pytest.mark.skipif(not os.access(STOCK_REDIS, os.X_OK), reason=f"needs {STOCK_REDIS} (apt redis-server)")


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    with tempfile.TemporaryDirectory(prefix="cw-", dir="/tmp") as tmp, RedisCluster(Path(tmp)) as running:
        yield running


@pytest.fixture
def flushed_cluster(cluster: RedisCluster) -> RedisCluster:
    client = redis.RedisCluster.from_url(cluster.url)
    client.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
    client.close()
    return cluster


async def test_a_node_url_gets_a_cluster_client(flushed_cluster: RedisCluster) -> None:
    """connect_redis on one node's URL detects the cluster and answers with a client that reaches every slot."""
    client = await connect_redis(flushed_cluster.url, attempts=3)
    try:
        assert type(client).__name__ == "RedisCluster"
        for n in range(30):  # keys in many slots, so on every master
            await client.set(f"cw:probe:{n}", n)
        assert [await client.get(f"cw:probe:{n}") for n in range(30)] == [str(n) for n in range(30)]
    finally:
        await client.aclose()


def test_the_service_works_on_a_cluster(flushed_cluster: RedisCluster) -> None:
    """Against the cluster: a turn raises an alert that the live feed, the alert list, the board, an
    acknowledgement and a webhook all see; the conversation's keys share one slot while other keys spread out."""
    receiver = Receiver().start()
    try:
        with serve(flushed_cluster.url) as server, httpx.Client(base_url=server.http, timeout=10) as client:
            assert isinstance(server, LiveServer)
            create_endpoint(client, receiver)
            with connect(f"{server.ws}/v1/alerts") as feed:
                start(client, "c1")
                alerts = angry(client, "c1")
                assert [a["rule"] for a in alerts], "the angry turn raises an alert"
                live = json.loads(feed.recv(timeout=10))
                assert live["type"] == "alert" and live["alert"]["id"] == alerts[0]["id"]
            assert [a["id"] for a in client.get("/v1/alerts").json()] == [a["id"] for a in alerts]
            board = client.get("/v1/conversations").json()
            assert [row["meta"]["conversation_id"] for row in board] == ["c1"] and board[0]["risk"] > 0.5
            ack = client.post(f"/v1/alerts/{alerts[0]['id']}/ack", json={"by": "Kim"})
            assert ack.status_code == 200 and ack.json()["by"] == "Kim"
            again = angry(client, "c1")  # a re-send: the same answer, nothing raised twice
            assert [a["id"] for a in again] == [a["id"] for a in alerts]
            wait_for(lambda: receiver.bodies("alert.raised"), what="the webhook delivery")
            assert [b["data"]["id"] for b in receiver.bodies("alert.raised")] == [alerts[0]["id"]]
            assert client.post("/v1/conversations/c1/end").status_code == 200
            assert client.get("/v1/conversations").json() == []
    finally:
        receiver.stop()
    nodes = [redis.Redis(port=port) for port in flushed_cluster.ports]
    try:
        holding = [n for n in nodes if n.dbsize() > 0]
        assert len(holding) >= 2, "Calmwatch's keys are spread over several masters"
        conversation = [key for n in nodes for key in n.keys("cw:conv:{c1}*")]
        assert len(conversation) >= 4 and len({nodes[0].cluster("keyslot", k) for k in conversation}) == 1
    finally:
        for n in nodes:
            n.close()


async def test_api_keys_are_created_and_revoked_on_a_cluster(flushed_cluster: RedisCluster) -> None:
    """The two API key hashes share a hash tag, so creating and revoking a key (one MULTI each) works."""
    client = await connect_redis(flushed_cluster.url, attempts=3)
    try:
        store = KeyStore(client)
        _, record = await store.create("supervisor", name="on the cluster")
        assert [r.id for r in await store.records()] == [record.id]
        assert await store.revoke(record.id) and await store.records() == []
    finally:
        await client.aclose()


@pytest.mark.slow
def test_one_conversation_over_two_processes_on_a_cluster(flushed_cluster: RedisCluster) -> None:
    """Two real service processes on the cluster: turns sent to both while earlier ones are in flight are stored
    once each in arrival order, with the alerts one process raises for that order."""
    with (
        tempfile.TemporaryDirectory(prefix="cw-", dir="/tmp") as tmp,
        services_on(flushed_cluster.url, 2, Path(tmp)) as services,
    ):
        messages = send_in_order(flushed_cluster.url, services, "x0", 16)
        alerts = all_alerts(services[1].http)
        expected = reference_alerts(services[0], "ref-x", messages)
    assert alerts_of(alerts, "x0") == expected and expected
