"""Issue 20, item 4: the embedded server SIGKILLed under a running service is restarted on the same data, and
``/healthz`` fails while the service cannot work (so an orchestrator would restart it)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from monitor.redis_server import EmbeddedRedis
from tests.faults.processes import PEOPLE, Service, ValkeyProcess, wait_until
from tests.faults.traffic import CUSTOMER, all_alerts

FURIOUS = CUSTOMER[2]


def _embedded_server(service: Service) -> psutil.Process:
    assert service.proc is not None
    (server,) = [p for p in psutil.Process(service.proc.pid).children() if "valkey" in p.name()]
    return server


@pytest.mark.slow
def test_a_killed_embedded_server_is_restarted_on_the_same_data() -> None:
    """kill -9 the embedded Valkey: the service restarts it by itself, keeps its alerts and serves again."""
    with tempfile.TemporaryDirectory(prefix="cw-", dir="/tmp") as tmp, Service(Path(tmp)) as service:
        base = service.http
        httpx.post(f"{base}/v1/conversations", json={"conversation_id": "c1", **PEOPLE}).raise_for_status()
        message = {"conversation_id": "c1", "message_id": "m1", "role": "customer", "text": FURIOUS}
        assert httpx.post(f"{base}/v1/messages", json=message).json()["alerts"]
        before = all_alerts(base)
        old = _embedded_server(service)
        time.sleep(1.5)  # the append-only file is fsynced every second: let the alert reach the disk
        old.kill()  # SIGKILL
        old.wait(timeout=10)
        wait_until(lambda: httpx.get(f"{base}/healthz", timeout=5).status_code == 200, what="recovery", timeout_s=10)
        assert _embedded_server(service).pid != old.pid
        statuses = [httpx.get(f"{base}/v1/alerts", timeout=5).status_code for _ in range(20)]
        assert statuses == [200] * 20
        assert all_alerts(base) == before  # the restarted server replayed the append-only file
        message = {**message, "message_id": "m2"}
        assert httpx.post(f"{base}/v1/messages", json=message, timeout=10).status_code == 200


@pytest.mark.slow
def test_healthz_fails_while_redis_does_not_answer() -> None:
    """/healthz is 503 while the service's Redis is down, and 200 again once it is back."""
    with tempfile.TemporaryDirectory(prefix="cw-", dir="/tmp") as tmp:
        server = ValkeyProcess(Path(tmp) / "redis").start()
        try:
            with Service(Path(tmp) / "state", redis_url=server.url) as service:
                assert httpx.get(f"{service.http}/healthz", timeout=10).status_code == 200
                server.kill()
                down = httpx.get(f"{service.http}/healthz", timeout=10)
                assert down.status_code == 503 and down.json()["status"] == "unavailable"
                server.start()
                wait_until(lambda: httpx.get(f"{service.http}/healthz", timeout=5).status_code == 200, what="health")
        finally:
            server.stop()


@pytest.mark.slow
def test_after_kill_9_of_the_service_its_orphaned_server_is_replaced_on_the_same_data() -> None:
    """kill -9 calmwatch serve: its Valkey lives on; the next start shuts that orphan down and serves the same data."""
    with tempfile.TemporaryDirectory(prefix="cw-", dir="/tmp") as tmp:
        service = Service(Path(tmp)).start()
        httpx.post(f"{service.http}/v1/conversations", json={"conversation_id": "c1", **PEOPLE}).raise_for_status()
        orphan = _embedded_server(service)
        service.kill()
        assert orphan.is_running()  # in its own session: the SIGKILL did not reach it
        with Service(Path(tmp)) as restarted:
            assert not orphan.is_running() or orphan.status() == psutil.STATUS_ZOMBIE  # exited (maybe unreaped)
            assert _embedded_server(restarted).pid != orphan.pid
            assert httpx.get(f"{restarted.http}/v1/conversations/c1", timeout=10).status_code == 200
            events = [r["event"] for r in restarted.log_records()]
            assert "shutting down an embedded server left behind by a process that died" in events
            assert "redis not ready; retrying" not in events  # no connection retries against the dead socket


def test_probing_a_dead_embedded_socket_tries_once() -> None:
    """The orphan check connects once to a socket whose server hangs up, instead of redis-py's backed-off retries."""
    data_dir = Path(tempfile.mkdtemp(prefix="cw-", dir="/tmp"))
    accepted: list[int] = []
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(data_dir / "redis.sock"))
    listener.listen(16)

    def hang_up() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                accepted.append(1)
                conn.close()  # a server that is going away: every command dies with its connection

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    try:
        assert EmbeddedRedis(data_dir)._ping() is False
        assert len(accepted) == 1
    finally:
        listener.close()
        shutil.rmtree(data_dir, ignore_errors=True)
