"""Issue 16, item 1: one conversation's turns spread over several real `calmwatch serve` processes on one Redis
are stored once each, in arrival order, with the alerts a single process would have raised; a process killed
while it holds turns loses them within the lease, and the connector's resend is stored once."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from monitor import redis_keys
from monitor.runtime import redis_client
from monitor.state import ConversationStore
from tests.faults.processes import PEOPLE, Service, ValkeyProcess, wait_until
from tests.faults.traffic import all_alerts, conversation_events

LEASE_S = 1.0  # short, so the test's dead process costs ~1 s instead of the default 3


@contextlib.contextmanager
def services_on(redis_url: str, count: int, state_dir: Path) -> Iterator[list[Service]]:
    """``count`` real service processes (VADER scorer) sharing the Redis at ``redis_url``."""
    services = [
        Service(state_dir / f"s{i}", redis_url=redis_url, CALMWATCH_TURN_LEASE_S=str(LEASE_S)) for i in range(count)
    ]
    try:
        for service in services:
            service.start(wait=False)
        for service in services:
            service.wait_ready()
        yield services
    finally:
        for service in services:
            service.stop()


@contextlib.contextmanager
def services_on_one_redis(count: int) -> Iterator[tuple[str, list[Service]]]:
    """``count`` real service processes sharing one real Redis-protocol server (its own process); and its URL."""
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cw-", dir="/tmp")))
        server = stack.enter_context(ValkeyProcess(tmp / "redis"))
        yield server.url, stack.enter_context(services_on(server.url, count, tmp))


def start(service: Service, cid: str) -> None:
    body = {"conversation_id": cid, **PEOPLE}
    httpx.post(f"{service.http}/v1/conversations", json=body, timeout=10).raise_for_status()


def send(services: list[Service], first: int, message: dict[str, Any]) -> dict[str, Any]:
    """POST the message to ``services[first]``; on a dropped connection or a 503, resend it to the next one up
    (what a connector does): the answer that finally came."""
    body = {k: v for k, v in message.items() if k != "type"}
    for attempt in range(len(services) * 3):
        service = services[(first + attempt) % len(services)]
        if service.proc is None or service.proc.poll() is not None:
            continue
        try:
            response = httpx.post(f"{service.http}/v1/messages", json=body, timeout=30)
        except httpx.TransportError:
            continue
        if response.status_code == 503:
            time.sleep(0.05)
            continue
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer
    raise AssertionError(f"no service answered {message['message_id']}")


def sync_client(url: str) -> redis.Redis:
    """A client for the test's own look at Redis: a cluster client if the URL names a cluster node."""
    client = redis.Redis.from_url(url, decode_responses=True)
    if client.info("cluster").get("cluster_enabled"):
        client.close()
        return redis.RedisCluster.from_url(url, decode_responses=True)  # type: ignore[return-value]
    return client


def tickets(redis_url: str, cid: str) -> int:
    client = sync_client(redis_url)
    try:
        return int(client.hget(redis_keys.conversation(cid), "ticket") or 0)
    finally:
        client.close()


def arrived(redis_url: str, cid: str, count: int) -> bool:
    """True once ``count`` turns of the conversation have taken their place (a ticket)."""
    return tickets(redis_url, cid) >= count


def stored_ids(service: Service, cid: str) -> list[str]:
    detail = httpx.get(f"{service.http}/v1/conversations/{cid}", timeout=10).json()
    return [t["message_id"] for t in detail["turns"]]


def alerts_of(alerts: list[dict[str, Any]], cid: str) -> list[tuple[str, str, str, str]]:
    return [(a["message_id"], a["rule"], a["severity"], a["reason"]) for a in alerts if a["conversation_id"] == cid]


def reference_alerts(service: Service, cid: str, messages: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """The alerts one process raises for these messages sent one at a time, in this order (conversation ``cid``)."""
    start(service, cid)
    for message in messages:
        send([service], 0, {**message, "conversation_id": cid})
    return alerts_of(all_alerts(service.http), cid)


def send_in_order(redis_url: str, services: list[Service], cid: str, turns: int) -> list[dict[str, Any]]:
    """Send ``turns`` messages of a new conversation ``cid`` round-robin over the services, each once the previous
    one has taken its place (its ticket), not once it is answered, so several are in flight in different
    processes at once; the messages, in the order sent. Checks every one is stored once, in that order."""
    messages = [{**m, "conversation_id": cid} for m in conversation_events(1, turns)[1:]]
    start(services[0], cid)
    with ThreadPoolExecutor(max_workers=turns) as pool:
        futures = []
        for i, message in enumerate(messages):
            futures.append(pool.submit(send, services, i % len(services), message))
            wait_until(functools.partial(arrived, redis_url, cid, i + 1), what=f"turn {i}", timeout_s=30)
        answers = [f.result() for f in futures]
    assert stored_ids(services[-1], cid) == [m["message_id"] for m in messages], "lost or reordered"
    assert [a["message_id"] for a in answers] == [m["message_id"] for m in messages]
    return messages


@pytest.mark.slow
def test_one_conversation_over_four_processes_is_one_ordered_history() -> None:
    """Turns sent round-robin to four processes while earlier ones are still in flight are stored once each in
    arrival order; a burst of all of them at once is stored once each; both raise exactly the alerts of one
    process given the stored order (no duplicate, none missing)."""
    turns = 30
    with services_on_one_redis(4) as (redis_url, services):
        ordered = send_in_order(redis_url, services, "ordered0", turns)

        # A burst: every message released at once from its own thread, round-robin over the four processes.
        burst = conversation_events(1, turns, prefix="burst")[1:]
        start(services[0], "burst0")
        gate = threading.Barrier(turns)

        def released(i: int) -> dict[str, Any]:
            gate.wait()
            return send(services, i % 4, burst[i])

        with ThreadPoolExecutor(max_workers=turns) as pool:
            burst_answers = list(pool.map(released, range(turns)))
        burst_order = stored_ids(services[2], "burst0")
        assert sorted(burst_order) == sorted(m["message_id"] for m in burst), "a turn was lost or stored twice"

        alerts = all_alerts(services[3].http)
        by_id = {m["message_id"]: m for m in burst}
        expected_ordered = reference_alerts(services[0], "ref-ordered", ordered)
        expected_burst = reference_alerts(services[0], "ref-burst", [by_id[mid] for mid in burst_order])

    keys = Counter((a["conversation_id"], a["message_id"], a["rule"]) for a in alerts)
    assert max(keys.values()) == 1, "an alert was raised twice"
    assert alerts_of(alerts, "ordered0") == expected_ordered
    assert alerts_of(alerts, "burst0") == expected_burst
    assert len(expected_ordered) >= 3, "the traffic raises alerts, so the comparison means something"
    answered = {a["id"] for answer in burst_answers for a in answer["alerts"]}
    assert answered == {a["id"] for a in alerts if a["conversation_id"] == "burst0"}


@pytest.mark.slow
def test_a_process_killed_holding_turns_loses_them_within_the_lease_and_the_resend_is_stored_once() -> None:
    """A turn waiting behind a dead process's turn is answered once that lease runs out; the process holding it
    is SIGKILLed too, and the connector's resend of its message is stored once, with no alert twice."""
    messages = conversation_events(1, 8, prefix="k")[1:]
    with services_on_one_redis(3) as (redis_url, services):
        start(services[0], "k0")
        for i, message in enumerate(messages[:4]):
            send(services, i % 3, message)

        async def take_a_place_and_die() -> None:
            """A process that takes the next ticket and is never heard from again (its lease is not renewed)."""
            client = redis_client(redis_url)
            store = ConversationStore(client, ttl_s=600, window=20, alert_maxlen=1000, turn_lease_s=LEASE_S)
            assert (await store.arrive("k0", "from-a-dead-process")).ticket == 5
            await client.aclose()

        asyncio.run(take_a_place_and_die())
        victim = services[1]
        with ThreadPoolExecutor(max_workers=2) as pool:
            doomed = pool.submit(send, services, 1, messages[4])  # waits behind ticket 5 in the victim
            wait_until(lambda: tickets(redis_url, "k0") == 6, what="the victim to take ticket 6", timeout_s=30)
            victim.kill()  # it dies holding ticket 6; send() resends the message to the next process
            started = time.monotonic()
            answer = doomed.result(timeout=60)
            waited = time.monotonic() - started
        for i, message in enumerate(messages[5:]):
            send(services, 2 * i, message)
        order = stored_ids(services[0], "k0")
        alerts = all_alerts(services[2].http)
        expected = reference_alerts(services[0], "ref-k", messages)

    print(f"resend answered {waited:.2f} s after the kill (lease {LEASE_S} s)")
    assert answer["message_id"] == messages[4]["message_id"]
    assert order == [m["message_id"] for m in messages], "lost, doubled or reordered"
    assert alerts_of(alerts, "k0") == expected
