"""Alerts: the REST history, the supervisor feed and each agent's nudges (websockets with resume)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.websockets import WebSocket

from monitor.alerts import STREAM_ID_PATTERN, is_stream_id
from monitor.api.deps import closed_when_revoked, runtime, ws_runtime
from monitor.api.errors import ErrorBody
from monitor.auth import Principal, require, require_nudges
from monitor.delivery.websockets import follow_alerts
from monitor.errors import IngestError
from monitor.live import AgentNudges, SupervisorFeed
from monitor.runtime import Runtime
from monitor.schemas import AlertWithFeedback

router = APIRouter(prefix="/v1", tags=["alerts"])
Rt = Annotated[Runtime, Depends(runtime)]
Since = Annotated[
    str | None,
    Query(
        description="an alert id; only alerts after it are returned (use the last id you saw). `0` means all.",
        # Documented, and checked by _check_since (so a bad cursor is `invalid_cursor`, not `invalid_event`).
        json_schema_extra={"pattern": STREAM_ID_PATTERN},
    ),
]


def _check_since(since: str | None) -> None:
    if since is not None and not is_stream_id(since):
        raise IngestError("invalid_cursor", f"since={since!r} is not an alert id (like 1700000000000-0)")


@router.get(
    "/alerts",
    response_model=list[AlertWithFeedback],
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 422: {"model": ErrorBody}},
    dependencies=[Depends(require("read"))],
)
async def list_alerts(
    rt: Rt, since: Since = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[AlertWithFeedback]:
    """Alerts oldest first: those after ``since``, or without it the latest ``limit``; each with its current
    ``feedback`` (helpful or false alarm), or ``null``."""
    _check_since(since)
    alerts = await rt.alerts.since(since, limit=limit)
    verdicts = await rt.feedback.get_many([a.id for a in alerts])
    return [AlertWithFeedback(**a.model_dump(), feedback=verdicts.get(a.id)) for a in alerts]


async def _close_bad_cursor(websocket: WebSocket, since: str | None) -> bool:
    if since is None or is_stream_id(since):
        return False
    await websocket.close(code=1008, reason="since is not an alert id")
    return True


@router.websocket("/alerts")
async def alert_feed(
    websocket: WebSocket,
    principal: Annotated[Principal, Depends(require("read"))],  # checked before accept: refused, no socket
    since: str | None = None,
    include: str = "",
) -> None:
    """Every alert as ``{"type": "alert", "alert": {...}}``; ``include=turns`` adds live turn scores for boards."""
    rt = ws_runtime(websocket)
    await websocket.accept()
    if await _close_bad_cursor(websocket, since):
        return
    audience = SupervisorFeed.including(include)
    with rt.metrics.websocket_clients.labels(endpoint="alerts").track_inprogress():
        async with closed_when_revoked(websocket, rt, principal):
            await follow_alerts(websocket, rt.hub, rt.alerts, since=since, audience=audience)


@router.websocket("/agents/{agent_id}/nudges")
async def agent_nudges(
    websocket: WebSocket,
    agent_id: str,
    principal: Annotated[Principal, Depends(require_nudges)],  # an agent key reads only its own agent id
    since: str | None = None,
) -> None:
    """The alerts meant for this agent (audience includes ``agent``) in that agent's conversations, live."""
    rt = ws_runtime(websocket)
    await websocket.accept()
    if await _close_bad_cursor(websocket, since):
        return
    with rt.metrics.websocket_clients.labels(endpoint="nudges").track_inprogress():
        async with closed_when_revoked(websocket, rt, principal):
            await follow_alerts(websocket, rt.hub, rt.alerts, since=since, audience=AgentNudges(agent_id))
