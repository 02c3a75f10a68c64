"""The issue's acceptance run, with real processes: ``calmwatch serve`` on its embedded Redis (append-only file),
a receiver that is down while alerts are raised, the service stopped and started again in between, and then
every alert arriving, each with a valid signature and the ``webhook-id`` of its failed attempts."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.delivery.webhook_receiver import Receiver, wait_for

ADMIN = "cwk_acceptance-run-admin-key"
ANGRY = "This is ridiculous and unacceptable, I am furious and I hate this useless service!"


class Service:
    """``calmwatch serve`` as a child process, on a state dir that outlives it."""

    def __init__(self, state_dir: Path, port: int) -> None:
        self.state_dir = state_dir
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Service:
        env = {
            **os.environ,
            "CALMWATCH_STATE_DIR": str(self.state_dir),
            "CALMWATCH_ADMIN_KEY": ADMIN,
            "CALMWATCH_WEBHOOK_RETRY_SCHEDULE_S": json.dumps([0.3] * 40),
            "CALMWATCH_WEBHOOK_POLL_S": "0.05",
            "CALMWATCH_LOG_FORMAT": "json",
        }
        env.pop("CALMWATCH_REDIS_URL", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "serve", "--port", str(self.port), "--scorer", "vader"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def ready() -> bool:
            assert self.process is not None and self.process.poll() is None, "calmwatch serve exited"
            try:
                return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, timeout=60, what="calmwatch serve to be ready")
        return self

    def stop(self) -> None:
        """SIGTERM: the graceful shutdown (which also stops the embedded Redis, flushing its append-only file)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@pytest.fixture
def state_dir() -> Iterator[Path]:
    path = Path(f"/tmp/cw-accept-{os.getpid()}")  # short: it holds the embedded server's unix socket
    shutil.rmtree(path, ignore_errors=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_receiver_down_and_service_restarted_then_every_alert_arrives(state_dir: Path) -> None:
    """Alerts raised while the receiver is down, a restart of the service (and its embedded Redis) in between:
    once the receiver is back every alert arrives, verified by a spec-written check, with its original id."""
    receiver = Receiver()
    service = Service(state_dir, free_port()).start()
    try:
        auth = {"authorization": f"Bearer {ADMIN}"}
        with httpx.Client(base_url=service.url, headers=auth, timeout=10) as client:
            created = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["alert.raised"]})
            endpoint = created.json()
            receiver.secrets.append(endpoint["secret"])
            alert_ids: list[str] = []
            for n in range(3):
                start = {"conversation_id": f"c{n}", "customer": {"id": f"u{n}"}, "agent": {"id": "a1"}}
                assert client.post("/v1/conversations", json=start).status_code == 201
                message = {"conversation_id": f"c{n}", "message_id": "m1", "role": "customer", "text": ANGRY}
                alert_ids += [a["id"] for a in client.post("/v1/messages", json=message).json()["alerts"]]
            assert alert_ids, "the angry turns raised no alert"
            log_url = f"/v1/webhooks/{endpoint['id']}/deliveries"

            def failed_once() -> list[str]:
                log = client.get(log_url).json()
                tried = [d["id"] for d in log if d["attempts"] and d["attempts"][0]["error"]]
                return tried if len(tried) == len(alert_ids) else []

            ids_before = set(wait_for(failed_once, what="a failed attempt for every alert"))
        service.stop()
        service.start()
        receiver.start()
        # A delivery the stopped process had just claimed is retried once its claim lapses (2 x the webhook
        # timeout + 30 s = 50 s by default), not at once: wait that long before calling it lost.
        every = lambda: {b["data"]["id"] for b in receiver.bodies()} >= set(alert_ids)  # noqa: E731
        wait_for(every, timeout=75, what="every alert")
        assert set(receiver.ids()) == ids_before
        assert all(r["verified_by"] == [endpoint["secret"]] for r in receiver.received)
    finally:
        service.stop()
        receiver.stop()
