"""Issue 20, item 4: the embedded server SIGKILLed under a running service is restarted on the same data, and
``/healthz`` fails while the service cannot work (so an orchestrator would restart it)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import httpx
import psutil
import pytest

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
