"""The connectors' long-lived parts in one service process: the configured connectors (one per platform), the
queue the webhook route writes to, the worker that feeds the pipeline, and Chatwoot's note sender and
reconciliation poller when ``CALMWATCH_CHATWOOT_URL`` and ``CALMWATCH_CHATWOOT_API_TOKEN`` are set."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter
from redis.asyncio import Redis

from monitor.connectors.base import Connector
from monitor.connectors.chatwoot import ChatwootApi, ChatwootConnector, ChatwootNotes, ChatwootReconciler
from monitor.connectors.intercom import IntercomConnector
from monitor.connectors.livechat import LiveChatConnector
from monitor.connectors.queue import ConnectorQueue, ConnectorWorker
from monitor.connectors.slack import SlackConnector
from monitor.connectors.twilio import TwilioConnector
from monitor.connectors.zendesk import ZendeskConnector
from monitor.pipeline import Pipeline
from monitor.settings import Settings


def build_connectors(settings: Settings) -> dict[str, Connector]:
    """Every platform's connector, by route name; each checks signatures only if its secret is set."""
    tolerance = float(settings.connector_signature_tolerance_s)
    connectors: list[Connector] = [
        ChatwootConnector(settings.chatwoot_webhook_secret, tolerance_s=tolerance),
        ZendeskConnector(settings.zendesk_webhook_secret),
        IntercomConnector(settings.intercom_client_secret),
        LiveChatConnector(settings.livechat_secret_key),
        TwilioConnector(
            settings.twilio_auth_token, public_url=settings.twilio_webhook_url, agents=settings.twilio_agent_identities
        ),
        SlackConnector(settings.slack_signing_secret, agents=settings.slack_agent_user_ids, tolerance_s=tolerance),
    ]
    return {c.name: c for c in connectors}


#: How long shutdown waits for the loops to stop by themselves before cancelling them.
STOP_TIMEOUT_S = 5.0


class ConnectorServices:
    def __init__(
        self, redis: Redis, settings: Settings, pipeline: Pipeline, *, registry: CollectorRegistry | None = None
    ) -> None:
        self._tasks: list[asyncio.Task[None]] = []
        #: What became of platform events, by platform: queued, duplicate, ignored, refused (a bad signature).
        self.outcomes = Counter(
            "calmwatch_connector_events_total",
            "Platform webhook events by what became of them",
            ["platform", "outcome"],
            registry=registry or CollectorRegistry(),
        )
        self.connectors = build_connectors(settings)
        self.queue = ConnectorQueue(
            redis, dedupe_ttl_s=settings.connector_dedupe_ttl_s, maxlen=settings.connector_queue_maxlen
        )
        self.worker = ConnectorWorker(redis, pipeline)
        self.chatwoot_api: ChatwootApi | None = None
        self.notes: ChatwootNotes | None = None
        self.reconciler: ChatwootReconciler | None = None
        if settings.chatwoot_url and settings.chatwoot_api_token:
            self.chatwoot_api = ChatwootApi(
                settings.chatwoot_url, settings.chatwoot_api_token, timeout_s=settings.webhook_timeout_s
            )
            self.notes = ChatwootNotes(redis, settings, self.chatwoot_api)
            if settings.chatwoot_reconcile_interval_s > 0:
                self.reconciler = ChatwootReconciler(
                    redis, self.chatwoot_api, self.queue, interval_s=settings.chatwoot_reconcile_interval_s
                )

    async def start(self) -> None:
        await self.worker.start()
        if self.notes is not None:
            await self.notes.start()

    def run_background(self) -> list[asyncio.Task[None]]:
        """Start the loops as tasks; :meth:`aclose` ends them."""
        loops = [self.worker.run()]
        if self.notes is not None:
            loops.append(self.notes.run())
        if self.reconciler is not None:
            loops.append(self.reconciler.run())
        self._tasks = [asyncio.create_task(loop) for loop in loops]
        return list(self._tasks)

    def stop(self) -> None:
        """Tell the loops to stop; they end on their own within about ``BLOCK_MS`` (:meth:`aclose` waits)."""
        for part in (self.worker, self.notes, self.reconciler):
            if part is not None:
                part.stopping.set()

    async def aclose(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop the loops between two Redis commands (the worker after the entries in hand), and cancel only
        those that do not stop within ``timeout_s``: see :data:`monitor.connectors.queue.POLL_S` for why."""
        self.stop()
        if self._tasks:
            _done, late = await asyncio.wait(self._tasks, timeout=timeout_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.chatwoot_api is not None:
            await self.chatwoot_api.aclose()
