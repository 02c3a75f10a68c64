"""The service's long-lived parts, built once at start-up and torn down in reverse order at shutdown.

``open_runtime`` is what the app's lifespan calls: it gets a Redis (:func:`open_redis`: the configured URL, or
the embedded server), loads the scorer, starts the micro-batcher, the rule-pack watcher and the live hub.
Everything the routes need hangs off the :class:`Runtime` on ``app.state.runtime``.

``calmwatch replay`` is wired from the same pieces (:func:`open_redis`, :func:`running_batcher`,
:func:`build_pipeline`), so a replay with the service's settings scores, windows, expires and cools down
exactly as the service does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import redis.exceptions
import structlog
from redis.asyncio import ConnectionPool, Redis, RedisCluster
from redis.asyncio.client import Pipeline as RedisPipeline

from monitor.acks import AckStore
from monitor.alerts import AlertLog
from monitor.auth import Authenticator
from monitor.background import cancel_and_wait
from monitor.connectors import ConnectorServices
from monitor.delivery.webhooks import WebhookDispatcher
from monitor.delivery.websockets import LiveHub
from monitor.errors import ConfigurationError, RedisUnavailableError
from monitor.feedback import FeedbackStore
from monitor.language import language_detector
from monitor.observability import Metrics
from monitor.pipeline import AsyncScorer, Pipeline, PipelineObserver, RuleEvaluator
from monitor.privacy import Redactor
from monitor.privacy.retention import run_retention
from monitor.redis_server import EmbeddedRedis
from monitor.rules import RuleReloader
from monitor.rules.overrides import pack_paths
from monitor.schemas import utcnow
from monitor.scoring import Scorer, load_scorer
from monitor.scoring.batching import MicroBatcher
from monitor.settings import Settings
from monitor.state import ConversationStore

log = structlog.get_logger("runtime")


@dataclass
class Runtime:
    settings: Settings
    redis: Redis
    scorer: Scorer
    batcher: MicroBatcher
    rules: RuleReloader
    pipeline: Pipeline
    alerts: AlertLog
    acks: AckStore
    hub: LiveHub
    metrics: Metrics
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    auth: Authenticator = field(init=False)  # API keys, tokens, rate limits (monitor/auth.py)
    webhooks: WebhookDispatcher = field(init=False)  # alert stream -> signed, retried webhooks
    feedback: FeedbackStore = field(init=False)  # helpful / false-alarm verdicts on alerts (monitor/feedback.py)
    connectors: ConnectorServices = field(init=False)  # platform webhooks in, Chatwoot notes out (issue 17)

    @property
    def store(self) -> ConversationStore:
        return self.pipeline.store


def redacted(url: str) -> str:
    """The URL with any password replaced, for logs and error messages (secrets are never logged)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


#: What a dead connection raises; redis-py's ``BusyLoadingError`` (a server still loading its data) is one too.
_CONNECTION_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
#: Commands never retried: blocking reads (a retry would block again, and a cancelled one must end).
_NOT_RETRIED = frozenset({"XREAD", "XREADGROUP", "BLPOP", "BRPOP", "BLMOVE", "BZPOPMIN", "BZPOPMAX", "WAIT"})


class _RetryingRedis(Redis):
    """A client that retries a command once, at once, on a fresh connection when its connection turns out dead.

    After a Redis restart every pooled connection is dead, and without the retry each one fails the first
    request that uses it, however long after the restart. Before the retry the idle pooled connections are
    dropped, so the retry cannot meet another dead one. The retry is safe because what the service writes is
    idempotent or harmless to repeat: the turn commit does nothing if the turn's reply is already stored,
    conversation starts use HSETNX, live envelopes are de-duplicated by the hub, and a token bucket at worst
    takes one token twice. Blocking reads are not retried (the caller's loop reads again anyway).
    """

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            return await super().execute_command(*args, **options)
        except _CONNECTION_ERRORS:
            if str(args[0]).upper() in _NOT_RETRIED:
                raise
            await self.connection_pool.disconnect(inuse_connections=False)
            return await super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> RedisPipeline:
        return _RetryingPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


class _RetryingPipeline(RedisPipeline):
    """A pipeline (or MULTI/EXEC transaction) sent again once on a fresh connection, as :class:`_RetryingRedis`."""

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        stack = list(self.command_stack)  # execute() empties it, whatever happens
        try:
            return await super().execute(raise_on_error)
        except _CONNECTION_ERRORS:
            if self.watching or not stack:
                raise
            await self.connection_pool.disconnect(inuse_connections=False)
            self.command_stack = stack
            return await super().execute(raise_on_error)


#: Connections one process opens to Redis at most (per node on a cluster), unless the settings say otherwise.
MAX_CONNECTIONS = 1000


def redis_client(url: str, *, max_connections: int = MAX_CONNECTIONS) -> Redis:
    """The one kind of client Calmwatch uses: everything it keeps in Redis is text (JSON, ids, names), and a
    command whose pooled connection died (a Redis restart) is retried once on a fresh one. The pool may grow to
    ``max_connections`` (redis-py's default, 100, failed commands at once in a burst of hundreds of connectors
    reconnecting to one worker; a pool that waits for a free connection instead halved the turns/s)."""
    pool = ConnectionPool.from_url(url, decode_responses=True, max_connections=max_connections)
    return _RetryingRedis(connection_pool=pool)


def cluster_client(url: str, *, max_connections: int = MAX_CONNECTIONS) -> Redis:
    """A Redis Cluster client from the URL of any one node: it discovers the others, follows MOVED/ASK
    redirections and reconnects by itself. Typed as :class:`Redis` because Calmwatch uses only the commands both
    have (every multi-key script, pipeline and transaction stays in one hash slot)."""
    client = RedisCluster.from_url(url, decode_responses=True, max_connections=max_connections)
    return cast(Redis, client)


async def is_cluster(client: Redis) -> bool:
    """Whether the server is a Redis Cluster node (``cluster_enabled:1``), so the cluster client is needed."""
    try:
        info = await client.info("cluster")
    except redis.exceptions.ResponseError:  # a server without the section (not a cluster)
        return False
    return bool(info.get("cluster_enabled"))


async def connect_redis(url: str, attempts: int, *, max_connections: int = MAX_CONNECTIONS) -> Redis:
    """Ping with bounded, logged retries (arq's habit): a Redis still starting is waited for, a wrong URL is not.

    A URL naming a node of a Redis Cluster gets a cluster client: nothing else to configure."""
    client = redis_client(url, max_connections=max_connections)
    delay = 0.2
    for attempt in range(1, attempts + 1):
        try:
            await client.ping()
            if await is_cluster(client):
                await client.aclose()
                cluster = cluster_client(url, max_connections=max_connections)
                await cluster.ping()
                log.info("redis is a cluster; using the cluster client", url=redacted(url))
                return cluster
            return client
        except Exception as exc:  # redis raises its own ConnectionError subclasses, and OSError underneath
            if attempt == attempts:
                await client.aclose()
                where = redacted(url)
                message = f"Redis at {where} did not answer after {attempts} attempts: {exc}"
                raise RedisUnavailableError(message) from exc
            log.warning("redis not ready; retrying", attempt=attempt, of=attempts, retry_in_s=delay, error=str(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def open_redis(
    url: str | None, *, attempts: int, data_dir: Path | None = None, max_connections: int = MAX_CONNECTIONS
) -> AsyncIterator[Redis]:
    """The Redis at ``url``, or with none an embedded server started here and stopped on exit.

    The embedded server keeps its data (append-only file) in ``data_dir``; with no ``data_dir`` it runs in a
    temporary directory without persistence and is removed afterwards (``calmwatch replay``).
    """
    embedded: EmbeddedRedis | None = None
    scratch: str | None = None
    if url is None:
        if data_dir is None:
            scratch = tempfile.mkdtemp(prefix="cw-", dir="/tmp")  # short path: unix socket length limit
        embedded = EmbeddedRedis(data_dir or Path(str(scratch)), appendonly=data_dir is not None)
        await asyncio.to_thread(embedded.start)
        url = embedded.url
    supervisor: asyncio.Task[None] | None = None
    try:
        redis = await connect_redis(url, attempts, max_connections=max_connections)
        if embedded is not None:
            supervisor = asyncio.create_task(_supervise(embedded))
        try:
            yield redis
        finally:
            if supervisor is not None:
                supervisor.cancel()
                await asyncio.gather(supervisor, return_exceptions=True)
            await redis.aclose()
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


#: How often the embedded server is checked, and the longest wait between two attempts to restart it.
SUPERVISE_EVERY_S = 0.5
RESTART_BACKOFF_MAX_S = 10.0


async def _supervise(embedded: EmbeddedRedis) -> None:
    """Restart the embedded server, on the same data, whenever it dies (with backoff while it keeps failing).

    Without this a crashed server is permanent: every request fails until someone restarts the service. The
    clients reconnect by themselves (:func:`redis_client` retries on a fresh connection)."""
    backoff = SUPERVISE_EVERY_S
    while True:
        await asyncio.sleep(SUPERVISE_EVERY_S)
        code = embedded.exited
        if code is None:
            continue
        log.error(
            "embedded redis exited; restarting it on the same data", exit_code=code, socket=str(embedded.socket_path)
        )
        while True:
            try:
                await asyncio.to_thread(embedded.start)
                log.info("embedded redis restarted")
                backoff = SUPERVISE_EVERY_S
                break
            except Exception as exc:  # keep trying: the service cannot work without it
                log.error("embedded redis restart failed", error=str(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RESTART_BACKOFF_MAX_S)


@contextlib.asynccontextmanager
async def running_batcher(scorer: Scorer, settings: Settings) -> AsyncIterator[MicroBatcher]:
    """The micro-batcher with the service's batch size, wait and queue bound; in-flight turns finish on exit."""
    batcher = MicroBatcher.from_settings(scorer, settings)
    await batcher.start()
    try:
        yield batcher
    finally:
        await batcher.aclose()


def build_pipeline(
    settings: Settings,
    *,
    redis: Redis,
    scorer: AsyncScorer,
    rules: Callable[[], RuleEvaluator],
    observer: PipelineObserver | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Pipeline:
    """The pipeline as the settings define it (turn window, state TTL, alert stream length, redaction, which turns
    the model reads) on ``redis``."""
    try:
        redactor = Redactor(settings.redact, phone_regions=settings.redact_phone_regions)
    except ValueError as exc:
        raise ConfigurationError(f"CALMWATCH_REDACT_PHONE_REGIONS: {exc}") from None
    store = ConversationStore(
        redis,
        ttl_s=settings.conversation_ttl_s,
        window=settings.turn_window,
        alert_maxlen=settings.alert_stream_maxlen,
        turn_lease_s=settings.turn_lease_s,
    )
    language = language_detector() if settings.language_detection else None
    return Pipeline(
        store=store,
        redis=redis,
        scorer=scorer,
        rules=rules,
        observer=observer,
        clock=clock,
        redactor=redactor,
        score_agents=settings.score_agents,
        language=language,
    )


@contextlib.asynccontextmanager
async def open_runtime(settings: Settings, *, scorer: Scorer | None = None) -> AsyncIterator[Runtime]:
    """Build the runtime, yield it, and shut it down gracefully (in-flight scoring finishes first)."""
    data_dir = settings.state_dir / "redis"
    async with open_redis(
        settings.redis_url,
        attempts=settings.redis_connect_attempts,
        data_dir=data_dir,
        max_connections=settings.redis_max_connections,
    ) as redis:
        auth = await Authenticator.open(redis, settings)  # refuses an open API on a public interface
        if scorer is None:
            scorer = await asyncio.to_thread(
                load_scorer, settings.scorer, settings.model_path, threads=settings.scoring_threads
            )
        metrics = Metrics()
        async with running_batcher(scorer, settings) as batcher:
            metrics.track_queue("scoring", lambda: batcher.queue_depth)
            rules = RuleReloader(pack_paths(settings.rules_paths, settings.override_file))
            pipeline = build_pipeline(
                settings, redis=redis, scorer=batcher, rules=lambda: rules.engine, observer=metrics
            )
            hub = LiveHub(redis)
            acks = AckStore(redis, max_entries=settings.alert_stream_maxlen)  # pruned with the alert stream
            runtime = Runtime(settings, redis, scorer, batcher, rules, pipeline, AlertLog(redis), acks, hub, metrics)
            runtime.auth = auth
            runtime.feedback = FeedbackStore(redis, max_entries=settings.alert_stream_maxlen)
            runtime.webhooks = WebhookDispatcher(redis, settings, registry=metrics.registry)
            await runtime.webhooks.start()
            runtime.connectors = ConnectorServices(redis, settings, pipeline, registry=metrics.registry)
            await runtime.connectors.start()
            runtime.tasks = [
                asyncio.create_task(hub.run()),
                asyncio.create_task(rules.run()),
                asyncio.create_task(runtime.webhooks.run()),
            ]
            if settings.alert_retention_s > 0:
                runtime.tasks.append(asyncio.create_task(run_retention(redis, retention_s=settings.alert_retention_s)))
            runtime.connectors.run_background()  # stopped by connectors.aclose, not cancelled: see its docstring
            _reload_rules_on_sighup(rules)
            await asyncio.wait_for(hub.ready.wait(), timeout=10)
            log.info(
                "calmwatch ready",
                pid=os.getpid(),  # one line per worker with `serve --workers N`
                redis=redacted(settings.redis_url) if settings.redis_url else f"embedded in {data_dir}",
                scorer=scorer.name,
                rules=rules.engine.rule_ids,
            )
            try:
                yield runtime
            finally:
                runtime.connectors.stop()  # at once, so the other tasks' shutdown is not delayed by theirs
                await cancel_and_wait(runtime.tasks)
                await runtime.connectors.aclose()


def _reload_rules_on_sighup(rules: RuleReloader) -> None:
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not main thread / not Unix
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, rules.reload_now)
