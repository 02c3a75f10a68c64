"""Dependencies shared by the routers, and the revocation watch every websocket route runs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from fastapi import Request
from starlette.websockets import WebSocket

from monitor.auth import Principal
from monitor.runtime import Runtime

log = structlog.get_logger("api")

#: How often an open websocket re-checks that its key was not revoked (one Redis EXISTS per socket).
REVOCATION_CHECK_S = 1.0
#: Close code for a socket whose credential was revoked (RFC 6455 "Policy Violation", as for a refused one).
CLOSE_REVOKED = 1008


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def ws_runtime(websocket: WebSocket) -> Runtime:
    rt: Runtime = websocket.app.state.runtime
    return rt


@contextlib.asynccontextmanager
async def closed_when_revoked(websocket: WebSocket, rt: Runtime, principal: Principal) -> AsyncIterator[None]:
    """While the body runs, close ``websocket`` (1008) within about a second of its key being revoked.

    The credential is checked at the handshake only; without this a revoked ingest key kept ingesting and a
    revoked agent kept its nudges for as long as the socket stayed open. Checked through Redis, so a key
    revoked by another process or by ``calmwatch keys revoke`` counts too; a Redis error closes nothing."""

    async def watch() -> None:
        while True:
            await asyncio.sleep(REVOCATION_CHECK_S)
            try:
                valid = await rt.auth.still_valid(principal)
            except Exception:  # an outage is not a revocation
                continue
            if not valid:
                log.info("closing a websocket whose key was revoked", key_id=principal.key_id)
                with contextlib.suppress(Exception):
                    await websocket.close(code=CLOSE_REVOKED, reason="credential revoked")
                return

    task = asyncio.create_task(watch())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
