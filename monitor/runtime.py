"""The service's long-lived parts, built once at start-up and torn down in reverse order at shutdown.

``Runtime.open`` is what the app's lifespan calls: it connects to Redis (or starts the embedded server),
loads the scorer, starts the micro-batcher, the rule-pack watcher and the live hub. Everything the routes
need hangs off the :class:`Runtime` on ``app.state.runtime``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import structlog
from redis.asyncio import Redis

from monitor.alerts import AlertLog
from monitor.auth import Authenticator
from monitor.batching import MicroBatcher
from monitor.delivery.webhooks import WebhookDispatcher
from monitor.delivery.websockets import LiveHub
from monitor.errors import RedisUnavailableError
from monitor.observability import Metrics
from monitor.pipeline import Pipeline
from monitor.redis_server import EmbeddedRedis
from monitor.rules import RuleReloader
from monitor.scoring import Scorer, VaderScorer
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
    hub: LiveHub
    metrics: Metrics
    embedded: EmbeddedRedis | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    auth: Authenticator = field(init=False)  # API keys, tokens, rate limits (monitor/auth.py)
    webhooks: WebhookDispatcher = field(init=False)  # alert stream -> signed, retried webhooks

    @property
    def alerts(self) -> AlertLog:
        return self.pipeline.alerts

    @property
    def store(self) -> ConversationStore:
        return self.pipeline.store


def load_scorer(settings: Settings) -> Scorer:
    """The configured scorer; the trained model unless ``CALMWATCH_SCORER=vader``."""
    if settings.scorer == "vader":
        return VaderScorer()
    from monitor.emotion_model import load_scorer as load_model  # torch import is slow: only when needed

    return load_model(settings.model_path)


def redacted(url: str) -> str:
    """The URL with any password replaced, for logs and error messages (secrets are never logged)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


async def connect_redis(url: str, attempts: int) -> Redis:
    """Ping with bounded, logged retries (arq's habit): a Redis still starting is waited for, a wrong URL is not."""
    client: Redis = Redis.from_url(url)
    delay = 0.2
    for attempt in range(1, attempts + 1):
        try:
            await client.ping()
            return client
        except (
            OSError,
            ConnectionError,
            Exception,
        ) as exc:  # redis raises its own ConnectionError subclasses
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
async def open_runtime(settings: Settings, *, scorer: Scorer | None = None) -> AsyncIterator[Runtime]:
    """Build the runtime, yield it, and shut it down gracefully (in-flight scoring finishes first)."""
    embedded: EmbeddedRedis | None = None
    url = settings.redis_url
    if url is None:
        embedded = EmbeddedRedis(settings.state_dir / "redis")
        await asyncio.to_thread(embedded.start)
        url = embedded.url
    try:
        redis = await connect_redis(url, settings.redis_connect_attempts)
        try:
            auth = await Authenticator.open(redis, settings)  # refuses an open API on a public interface
            if scorer is None:
                scorer = await asyncio.to_thread(load_scorer, settings)
            metrics = Metrics()
            batcher = MicroBatcher.from_settings(scorer, settings)
            await batcher.start()
            metrics.track_queue("scoring", lambda: batcher.queue_depth)
            rules = RuleReloader(settings.rules_paths)
            pipeline = Pipeline(
                store=ConversationStore(redis, ttl_s=settings.conversation_ttl_s, window=settings.turn_window),
                alerts=AlertLog(redis, maxlen=settings.alert_stream_maxlen),
                scorer=batcher,
                rules=lambda: rules.engine,
                observer=metrics,
            )
            hub = LiveHub(redis)
            runtime = Runtime(settings, redis, scorer, batcher, rules, pipeline, hub, metrics, embedded)
            runtime.auth = auth
            runtime.webhooks = WebhookDispatcher(redis, settings, registry=metrics.registry)
            await runtime.webhooks.start()
            runtime.tasks = [
                asyncio.create_task(hub.run()),
                asyncio.create_task(rules.run()),
                asyncio.create_task(runtime.webhooks.run()),
            ]
            _reload_rules_on_sighup(rules)
            await asyncio.wait_for(hub.ready.wait(), timeout=10)
            log.info(
                "calmwatch ready",
                redis=("embedded " + url) if embedded else redacted(url),
                scorer=scorer.name,
                rules=rules.engine.rule_ids,
            )
            try:
                yield runtime
            finally:
                for task in runtime.tasks:
                    task.cancel()
                await asyncio.gather(*runtime.tasks, return_exceptions=True)
                await batcher.aclose()
        finally:
            await redis.aclose()
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


def _reload_rules_on_sighup(rules: RuleReloader) -> None:
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not main thread / not Unix
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, rules.reload_now)
