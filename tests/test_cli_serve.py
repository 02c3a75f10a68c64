"""`calmwatch serve` run as a user runs it: a real process with the embedded Redis, stopped and started again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import free_port

FURIOUS = "I hate this, it is the worst, absolutely terrible and disgusting service. I am furious!"


@contextmanager
def serve(state_dir: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "CALMWATCH_STATE_DIR": str(state_dir), "CALMWATCH_LOG_FORMAT": "json"}
    env.pop("CALMWATCH_REDIS_URL", None)
    cmd = [sys.executable, "-m", "monitor.cli", "serve", "--scorer", "vader", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "service did not become ready"
            time.sleep(0.2)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_alerts_survive_a_restart_of_the_service() -> None:
    """Alerts raised before SIGTERM are still listed after `calmwatch serve` starts again on the same state dir."""
    with tempfile.TemporaryDirectory(prefix="cw-", dir="/tmp") as tmp:
        state_dir, port = Path(tmp), free_port()
        base = f"http://127.0.0.1:{port}"
        with serve(state_dir, port) as proc:
            httpx.post(
                f"{base}/v1/conversations",
                json={
                    "conversation_id": "c1",
                    "customer": {"id": "u1", "name": "Ana"},
                    "agent": {"id": "a1", "name": "Jo"},
                },
            ).raise_for_status()
            reply = httpx.post(
                f"{base}/v1/messages",
                json={"conversation_id": "c1", "message_id": "m1", "role": "customer", "text": FURIOUS},
            ).json()
            assert "anger" in [a["rule"] for a in reply["alerts"]], reply
            before = httpx.get(f"{base}/v1/alerts").json()
        assert proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after a graceful shutdown
        assert not (state_dir / "redis" / "redis.sock").exists(), "embedded server left running"
        with serve(state_dir, port):
            after = httpx.get(f"{base}/v1/alerts").json()
            assert after == before and len(after) >= 1
            assert httpx.get(f"{base}/v1/conversations/c1").json()["turns"][0]["message_id"] == "m1"
