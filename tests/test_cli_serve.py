"""`calmwatch serve` run as a user runs it: a real process with the embedded Redis, stopped and started again."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.delivery.webhook_receiver import Receiver, angry, create_endpoint, start, wait_for
from tests.paths import REPO_ROOT

FURIOUS = "I hate this, it is the worst, absolutely terrible and disgusting service. I am furious!"


@contextmanager
def serve(
    state_dir: Path, port: int, *args: str, log_path: Path | None = None, **extra_env: str
) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "CALMWATCH_STATE_DIR": str(state_dir), "CALMWATCH_LOG_FORMAT": "json", **extra_env}
    env.pop("CALMWATCH_REDIS_URL", None)
    cmd = [sys.executable, "-m", "monitor.cli", "serve", "--scorer", "vader", "--port", str(port), *args]
    stderr: Any = log_path.open("ab") if log_path else subprocess.PIPE
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
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
        if log_path:
            stderr.close()


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


def _angry_turn(base: str, conversation_id: str) -> list[str]:
    """Start a conversation, send one furious customer turn, return the rules it raised."""
    people = {"customer": {"id": "u1", "name": "Ana"}, "agent": {"id": "a1", "name": "Jo"}}
    httpx.post(f"{base}/v1/conversations", json={"conversation_id": conversation_id, **people}).raise_for_status()
    message = {"conversation_id": conversation_id, "message_id": "m1", "role": "customer", "text": FURIOUS}
    reply = httpx.post(f"{base}/v1/messages", json=message)
    reply.raise_for_status()
    return [a["rule"] for a in reply.json()["alerts"]]


def test_editing_the_rule_pack_changes_a_running_service() -> None:
    """Saving rules/default.yaml changes what a running service raises; a broken save is refused and reported."""
    with tempfile.TemporaryDirectory(prefix="cw-", dir="/tmp") as tmp:
        rules_dir = Path(tmp) / "rules"
        rules_dir.mkdir()
        pack = rules_dir / "default.yaml"
        shutil.copy(REPO_ROOT / "rules" / "default.yaml", pack)
        state_dir, port = Path(tmp) / "state", free_port()
        base = f"http://127.0.0.1:{port}"
        with serve(state_dir, port, CALMWATCH_RULES_PATHS=json.dumps([str(rules_dir)])) as proc:
            assert "anger" in _angry_turn(base, "before")
            text = pack.read_text(encoding="utf-8")
            assert "threshold: 0.6   " in text  # the anger rule's line, edited as a user would
            pack.write_text(text.replace("threshold: 0.6   ", "threshold: 0.995 ", 1), encoding="utf-8")
            wait_for(lambda: httpx.get(f"{base}/readyz").json()["rule_pack_reloads"] == 1, what="the reload")
            assert "anger" not in _angry_turn(base, "after-edit")

            pack.write_text(text.replace("threshold: 0.6   ", "threshold: high  ", 1), encoding="utf-8")
            wait_for(lambda: httpx.get(f"{base}/readyz").json()["rule_pack"] != "ok", what="the refusal")
            ready = httpx.get(f"{base}/readyz").json()
            assert ready["status"] == "ready" and ready["rule_pack_reloads"] == 1
            assert "anger" not in _angry_turn(base, "after-broken-edit")  # the edited (valid) pack still rules
        assert proc.stderr is not None
        refused = [
            json.loads(line)
            for line in proc.stderr.read().decode().splitlines()
            if "rule pack refused" in line and line.startswith("{")
        ]
        assert refused and refused[0]["rule"] == "anger" and refused[0]["field"] == "params.threshold"
        assert refused[0]["file"].endswith("default.yaml")


def _embedded_servers(state_dir: Path) -> list[int]:
    """Pids of Redis-protocol servers listening on the state dir's embedded socket (a server rewrites its process
    title, so the socket is looked for anywhere in it)."""
    socket_path = str(state_dir / "redis" / "redis.sock")
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if socket_path.encode() in b" ".join(args):
            pids.append(int(proc.name))
    return pids


@pytest.mark.slow
def test_workers_share_the_port_one_embedded_redis_live_feeds_and_webhooks() -> None:
    """`serve --workers 2`: one embedded Redis for both workers; every supervisor socket gets every alert,
    whichever worker holds it; each webhook delivery arrives once."""
    from websockets.sync.client import connect

    receiver = Receiver().start()
    with tempfile.TemporaryDirectory(prefix="cw-", dir="/tmp") as tmp:
        state_dir, port = Path(tmp), free_port()
        base, ws_base = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
        log_path = state_dir / "serve.log"
        try:
            with serve(state_dir, port, "--workers", "2", log_path=log_path, CALMWATCH_WEBHOOK_POLL_S="0.05"):
                wait_for(lambda: log_path.read_text().count('"calmwatch ready"') == 2, what="both workers ready")
                assert len(_embedded_servers(state_dir)) == 1, "the embedded Redis is started once, by the parent"
                with httpx.Client(base_url=base, timeout=10) as client:
                    create_endpoint(client, receiver)
                    sockets = [connect(f"{ws_base}/v1/alerts") for _ in range(6)]
                    try:
                        time.sleep(0.5)  # the feeds subscribe before the first alert
                        raised = []
                        for c in range(4):
                            start(client, f"c{c}")
                            raised += [a["id"] for a in angry(client, f"c{c}")]
                        assert len(raised) >= 4
                        for ws in sockets:
                            got: list[str] = []
                            while len(got) < len(raised):
                                envelope = json.loads(ws.recv(timeout=10))
                                if envelope["type"] == "alert":
                                    got.append(envelope["alert"]["id"])
                            assert sorted(got) == sorted(raised), "a socket missed an alert or got one twice"
                    finally:
                        for ws in sockets:
                            ws.close()
                wait_for(lambda: len(receiver.ids()) >= len(raised), what="the webhook deliveries")
                time.sleep(1.0)  # a second delivery of any of them, if there were one, would arrive meanwhile
                delivered = [body["data"]["id"] for body in receiver.bodies("alert.raised")]
                assert sorted(delivered) == sorted(raised), "each alert is delivered once across the workers"
                assert len(set(receiver.ids())) == len(receiver.ids())
        finally:
            receiver.stop()
        ready = [json.loads(line) for line in log_path.read_text().splitlines() if '"calmwatch ready"' in line]
        pids = {record.get("pid") for record in ready}
        assert len(pids) == 2, "two worker processes served"
