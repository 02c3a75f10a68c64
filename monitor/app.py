"""``create_app(settings)``: the FastAPI application. Its lifespan owns Redis, the model and background tasks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor import __version__
from monitor.api import (
    alerts,
    connectors,
    console,
    conversations,
    feedback,
    health,
    privacy,
    reports,
    stream,
    webhooks,
)
from monitor.api import auth as access
from monitor.api.docs import install_docs
from monitor.api.errors import install_error_handlers
from monitor.runtime import open_runtime
from monitor.scoring import Scorer
from monitor.settings import Settings


class BodySizeLimit:
    """Refuse request bodies over ``limit`` bytes with 413 before they are buffered (a 1 MB "message" is an attack)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLargeError
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLargeError:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"code": "too_large", "detail": f"request body over {self.limit} bytes"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLargeError(Exception):
    pass


def create_app(settings: Settings | None = None, *, scorer: Scorer | None = None) -> FastAPI:
    """Build the app; ``scorer`` replaces the configured one (tests pass a deterministic scorer)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(settings, scorer=scorer) as runtime:
            app.state.runtime = runtime
            yield

    app = FastAPI(
        title="Calmwatch",
        version=__version__,
        summary="Real-time monitor of customer anger and frustration in live chat",
        lifespan=lifespan,
        docs_url=None,  # served by monitor/api/docs.py from a package, not a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    install_docs(app)
    install_error_handlers(app)
    access.install_rate_limit_handler(app)
    for router in (
        conversations.router,
        alerts.router,
        stream.router,
        health.router,
        console.router,
        access.router,
        webhooks.router,
        privacy.router,
        feedback.router,
        reports.router,
        connectors.router,
    ):
        app.include_router(router)
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    return app


def create_worker_app() -> FastAPI:
    """One worker of ``calmwatch serve --workers N``: a fresh process, so it reads its settings from the
    environment the parent prepared and configures its own logging before building the app."""
    from monitor.observability import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
