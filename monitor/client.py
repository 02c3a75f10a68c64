"""A small Python client for the v1 API: send conversations and messages, read and follow alerts, manage
webhooks, and verify webhook deliveries on the receiving side.

>>> with CalmwatchClient("http://127.0.0.1:8000", key="cwk_...") as cw:  # doctest: +SKIP
...     cw.start_conversation("c1", customer={"id": "u1", "name": "Maria"}, agent={"id": "a1"})
...     reply = cw.send_message("c1", "m1", "This is ridiculous, I am furious!")
...     for alert in cw.follow_alerts(since="0"):
...         print(alert.rule, alert.nudge)

:class:`CalmwatchClient` is synchronous (httpx + ``websockets.sync``), :class:`AsyncCalmwatchClient` the same
API for asyncio. ``follow_alerts`` reconnects by itself after a dropped connection and resumes after the last
alert it yielded (``?since=``), so once it has a cursor (the ``since`` given, or the first alert) a caller sees
every alert once, in order, across reconnects. Pass ``since`` (e.g. the last id you stored) to cover the time
before the first connection too.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Generator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlencode

import httpx
from standardwebhooks import Webhook, WebhookVerificationError

from monitor.errors import ApiError
from monitor.schemas import Alert, ConversationMeta, ScoredReply

if TYPE_CHECKING:  # the API's own response models; imported when first used (they pull in the service's modules)
    from monitor.api.conversations import ConversationDetail
    from monitor.api.webhooks import WebhookCreated, WebhookView
    from monitor.delivery.webhooks import DeliveryView

__all__ = [
    "ApiError",
    "AsyncCalmwatchClient",
    "CalmwatchClient",
    "WebhookVerificationError",
    "verify_webhook",
]

#: Close codes after which reconnecting cannot help (bad credential or bad cursor).
_FATAL_CLOSE = {1008}
_MAX_BACKOFF_S = 10.0


def verify_webhook(secret: str, body: bytes | str, headers: Mapping[str, str]) -> dict[str, Any]:
    """Check a delivery's Standard Webhooks signature (and that its timestamp is within 5 minutes) and return
    the parsed body ``{"type", "timestamp", "data"}``; raises :class:`WebhookVerificationError` otherwise.
    Deduplicate on ``headers["webhook-id"]``: a retried delivery keeps it."""
    payload: dict[str, Any] = Webhook(secret).verify(body, dict(headers))
    return payload


def _party(value: str | Mapping[str, str]) -> dict[str, str]:
    return {"id": value} if isinstance(value, str) else dict(value)


class _Requests:
    """What the sync and async clients share: URLs, bodies, and turning answers into models or errors."""

    def __init__(self, base_url: str, key: str | None) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.key}"} if self.key else {}

    def ws_url(self, path: str, params: Mapping[str, str | None]) -> str:
        base = "ws" + self.base_url.removeprefix("http")
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return f"{base}{path}" + (f"?{query}" if query else "")

    @staticmethod
    def conversation_body(
        conversation_id: str,
        customer: str | Mapping[str, str],
        agent: str | Mapping[str, str],
        channel: str | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "conversation_id": conversation_id,
            "customer": _party(customer),
            "agent": _party(agent),
        }
        if channel is not None:
            body["channel"] = channel
        return body

    @staticmethod
    def message_body(
        conversation_id: str, message_id: str, text: str, role: str, sent_at: datetime | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "conversation_id": conversation_id,
            "message_id": message_id,
            "role": role,
            "text": text,
        }
        if sent_at is not None:
            body["sent_at"] = sent_at.isoformat()
        return body

    @staticmethod
    def check(response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return response.json() if response.content else None

    @staticmethod
    def alert_of(raw: str | bytes) -> Alert | None:
        envelope = json.loads(raw)
        return Alert.model_validate(envelope["alert"]) if envelope.get("type") == "alert" else None

    def feed_path(self, agent_id: str | None) -> str:
        return f"/v1/agents/{agent_id}/nudges" if agent_id else "/v1/alerts"


class CalmwatchClient:
    """Synchronous client. ``key`` is an API key or a token; without one only an open (loopback) service answers."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        key: str | None = None,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._r = _Requests(base_url, key)
        self._http = httpx.Client(
            base_url=self._r.base_url, headers=self._r.headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._r.check(self._http.request(method, path, **kwargs))

    # --- ingest
    def start_conversation(
        self,
        conversation_id: str,
        *,
        customer: str | Mapping[str, str],
        agent: str | Mapping[str, str],
        channel: str | None = None,
    ) -> ConversationMeta:
        body = self._r.conversation_body(conversation_id, customer, agent, channel)
        return ConversationMeta.model_validate(self._call("POST", "/v1/conversations", json=body))

    def end_conversation(self, conversation_id: str) -> ConversationMeta:
        return ConversationMeta.model_validate(self._call("POST", f"/v1/conversations/{conversation_id}/end"))

    def send_message(
        self,
        conversation_id: str,
        message_id: str,
        text: str,
        *,
        role: str = "customer",
        sent_at: datetime | None = None,
    ) -> ScoredReply:
        """Score one turn; the reply holds its scores and the alerts it raised. Safe to re-send (idempotent)."""
        body = self._r.message_body(conversation_id, message_id, text, role, sent_at)
        return ScoredReply.model_validate(self._call("POST", "/v1/messages", json=body))

    # --- reading
    def healthy(self) -> bool:
        """True when the service answers ``/healthz``: for a caller deciding whether to start one."""
        try:
            return self._http.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def alerts(self, since: str | None = None, *, limit: int = 100) -> list[Alert]:
        params: dict[str, str | int] = {"limit": limit, **({"since": since} if since is not None else {})}
        return [Alert.model_validate(a) for a in self._call("GET", "/v1/alerts", params=params)]

    def conversation(self, conversation_id: str) -> ConversationDetail:
        """Metadata, turns (with scores) and alerts of one conversation, as the API's own model."""
        from monitor.api.conversations import ConversationDetail

        return ConversationDetail.model_validate(self._call("GET", f"/v1/conversations/{conversation_id}"))

    def token(self) -> str:
        """A short-lived token for this key (for a browser, or anything that should not hold the key)."""
        return str(self._call("POST", "/v1/auth/token")["token"])

    def follow_alerts(
        self, since: str | None = None, *, agent_id: str | None = None, reconnect: bool = True
    ) -> Generator[Alert, None, None]:
        """Alerts as they happen (after ``since`` first, if given); ``agent_id`` follows that agent's nudges.
        Reconnects with backoff and resumes after the last alert yielded; stops on a refused credential."""
        from websockets.exceptions import ConnectionClosed, InvalidStatus
        from websockets.sync.client import connect

        backoff = 0.5
        while True:
            url = self._r.ws_url(self._r.feed_path(agent_id), {"since": since})
            try:
                with connect(url, additional_headers=self._r.headers) as ws:
                    backoff = 0.5
                    for raw in ws:
                        alert = self._r.alert_of(raw)
                        if alert is not None:
                            since = alert.id
                            yield alert
            except InvalidStatus as exc:
                raise ApiError(exc.response.status_code, "refused", "the websocket was refused (key or role)") from None
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code in _FATAL_CLOSE:
                    raise ApiError(exc.rcvd.code, "closed", exc.rcvd.reason) from None
            except OSError:
                pass
            if not reconnect:
                return
            time.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)

    # --- webhooks (admin)
    def create_webhook(
        self,
        url: str,
        events: Sequence[str] = ("alert.raised",),
        *,
        description: str = "",
        rules: Sequence[str] | None = None,
        min_severity: str | None = None,
    ) -> WebhookCreated:
        """Register an endpoint; the answer's ``secret`` is shown only this once."""
        from monitor.api.webhooks import WebhookCreated

        body = {"url": url, "events": list(events), "description": description, "rules": rules,
                "min_severity": min_severity}  # fmt: skip
        return WebhookCreated.model_validate(self._call("POST", "/v1/webhooks", json=body))

    def webhooks(self) -> list[WebhookView]:
        from monitor.api.webhooks import WebhookView

        return [WebhookView.model_validate(w) for w in self._call("GET", "/v1/webhooks")]

    def webhook_deliveries(self, endpoint_id: str, *, limit: int = 50) -> list[DeliveryView]:
        from monitor.delivery.webhooks import DeliveryView

        raw = self._call("GET", f"/v1/webhooks/{endpoint_id}/deliveries", params={"limit": limit})
        return [DeliveryView.model_validate(d) for d in raw]

    def test_webhook(self, endpoint_id: str) -> DeliveryView:
        from monitor.delivery.webhooks import DeliveryView

        return DeliveryView.model_validate(self._call("POST", f"/v1/webhooks/{endpoint_id}/test"))


class AsyncCalmwatchClient:
    """The same API as :class:`CalmwatchClient`, for asyncio (httpx.AsyncClient and ``websockets.asyncio``)."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        key: str | None = None,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._r = _Requests(base_url, key)
        self._http = httpx.AsyncClient(
            base_url=self._r.base_url, headers=self._r.headers, timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._r.check(await self._http.request(method, path, **kwargs))

    async def start_conversation(
        self,
        conversation_id: str,
        *,
        customer: str | Mapping[str, str],
        agent: str | Mapping[str, str],
        channel: str | None = None,
    ) -> ConversationMeta:
        body = self._r.conversation_body(conversation_id, customer, agent, channel)
        return ConversationMeta.model_validate(await self._call("POST", "/v1/conversations", json=body))

    async def end_conversation(self, conversation_id: str) -> ConversationMeta:
        return ConversationMeta.model_validate(await self._call("POST", f"/v1/conversations/{conversation_id}/end"))

    async def send_message(
        self,
        conversation_id: str,
        message_id: str,
        text: str,
        *,
        role: str = "customer",
        sent_at: datetime | None = None,
    ) -> ScoredReply:
        body = self._r.message_body(conversation_id, message_id, text, role, sent_at)
        return ScoredReply.model_validate(await self._call("POST", "/v1/messages", json=body))

    async def healthy(self) -> bool:
        try:
            return (await self._http.get("/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def alerts(self, since: str | None = None, *, limit: int = 100) -> list[Alert]:
        params: dict[str, str | int] = {"limit": limit, **({"since": since} if since is not None else {})}
        return [Alert.model_validate(a) for a in await self._call("GET", "/v1/alerts", params=params)]

    async def token(self) -> str:
        return str((await self._call("POST", "/v1/auth/token"))["token"])

    async def follow_alerts(
        self, since: str | None = None, *, agent_id: str | None = None, reconnect: bool = True
    ) -> AsyncIterator[Alert]:
        """Like :meth:`CalmwatchClient.follow_alerts`, as an async iterator."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidStatus

        backoff = 0.5
        while True:
            url = self._r.ws_url(self._r.feed_path(agent_id), {"since": since})
            try:
                async with connect(url, additional_headers=self._r.headers) as ws:
                    backoff = 0.5
                    async for raw in ws:
                        alert = self._r.alert_of(raw)
                        if alert is not None:
                            since = alert.id
                            yield alert
            except InvalidStatus as exc:
                raise ApiError(exc.response.status_code, "refused", "the websocket was refused (key or role)") from None
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code in _FATAL_CLOSE:
                    raise ApiError(exc.rcvd.code, "closed", exc.rcvd.reason) from None
            except OSError:
                pass
            if not reconnect:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)
