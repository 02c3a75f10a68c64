"""The embedded Valkey server: private socket, durable data, orphan clean-up, refusal to share a live state dir."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import redis

from monitor.errors import EmbeddedRedisError
from monitor.redis_server import EmbeddedRedis


def test_data_survives_stop_and_start() -> None:
    """Writes made before stop() are there after start() on the same data dir (append-only file)."""
    with tempfile.TemporaryDirectory(prefix="cw-", dir="/tmp") as tmp:
        with EmbeddedRedis(Path(tmp)) as server:
            redis.Redis.from_url(server.url).xadd("s", {"k": "v"})
        with EmbeddedRedis(Path(tmp)) as server:
            assert redis.Redis.from_url(server.url).xlen("s") == 1


def test_second_owner_is_refused_but_an_orphan_is_replaced() -> None:
    """A live owner's server is never shared; a server whose owner was killed is shut down and replaced."""
    with tempfile.TemporaryDirectory(prefix="cw-", dir="/tmp") as tmp:
        with EmbeddedRedis(Path(tmp)), pytest.raises(EmbeddedRedisError, match="already running"):
            EmbeddedRedis(Path(tmp)).start()
        code = (
            f"from monitor.redis_server import EmbeddedRedis; from pathlib import Path; import time; "
            f"EmbeddedRedis(Path({tmp!r})).start(); print('up', flush=True); time.sleep(120)"
        )
        owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
        try:
            assert owner.stdout is not None
            while owner.stdout.readline().strip() != b"up":  # unconfigured structlog also writes to stdout
                assert owner.poll() is None, "the owner process died before starting the server"
        finally:
            owner.kill()
            owner.wait()
        time.sleep(0.1)
        with EmbeddedRedis(Path(tmp)) as server:  # stops the orphan, and its own server on exit
            assert redis.Redis.from_url(server.url).ping()
