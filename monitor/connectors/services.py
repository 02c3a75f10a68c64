"""The connectors' long-lived parts in one service process: the configured connectors (one per platform), the
queue the webhook route writes to, the worker that feeds the pipeline, and Chatwoot's note sender and
reconciliation poller when ``CALMWATCH_CHATWOOT_URL`` and ``CALMWATCH_CHATWOOT_API_TOKEN`` are set."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

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


class ConnectorServices:
    def __init__(self, redis: Redis, settings: Settings, pipeline: Pipeline) -> None:
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

    def background(self) -> list[Coroutine[Any, Any, None]]:
        """The loops to run as tasks until shutdown."""
        loops = [self.worker.run()]
        if self.notes is not None:
            loops.append(self.notes.run())
        if self.reconciler is not None:
            loops.append(self.reconciler.run())
        return loops

    async def aclose(self) -> None:
        if self.chatwoot_api is not None:
            await self.chatwoot_api.aclose()
