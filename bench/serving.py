"""The service the end-to-end benchmarks measure: `calmwatch serve` started fresh for them, never someone else's."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


@contextlib.contextmanager
def service(
    scorer: str, *, workers: int = 1, env: dict[str, str] | None = None, log: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`calmwatch serve` (``--workers``) on a free port with a fresh state dir (its own embedded Redis), logging
    only warnings (to ``log`` if given), with ``env`` added; yields ``host:port`` and the process, and stops it
    with SIGTERM after."""
    with tempfile.TemporaryDirectory(prefix="cwb-", dir="/tmp") as tmp:
        with socket.socket() as sock:  # a free port: never measure somebody else's server
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        env = {**os.environ, "CALMWATCH_STATE_DIR": tmp, "CALMWATCH_LOG_LEVEL": "WARNING", **(env or {})}
        cmd = [sys.executable, "-m", "monitor.cli", "serve", "--scorer", scorer, "--port", str(port),
               "--workers", str(workers)]  # fmt: skip
        stderr = log.open("ab") if log else subprocess.DEVNULL
        proc = subprocess.Popen(cmd, env=env, stderr=stderr)
        try:
            for _ in range(1200):
                if proc.poll() is not None:
                    raise SystemExit(f"calmwatch serve exited with {proc.returncode}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                        break
                time.sleep(0.1)
            if workers > 1:
                time.sleep(2.0 * workers)  # every worker ready, not just the first to answer
            yield f"127.0.0.1:{port}", proc
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            if log:
                stderr.close()  # type: ignore[union-attr]
