"""The supervisor console and the agent sidebar: two static pages, their assets, and alert acknowledgements.

The pages are plain HTML, CSS and JavaScript modules from ``monitor/web`` (no build step, no third-party code).
They talk to the same v1 API as any client: REST for the initial state, the ``/v1/alerts`` and
``/v1/agents/{id}/nudges`` websockets for everything live, and ``POST /v1/alerts/{id}/ack`` from this router.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from monitor.alerts import STREAM_ID_PATTERN, is_stream_id
from monitor.api.deps import runtime
from monitor.api.errors import ErrorBody, error_response
from monitor.auth import Principal, require
from monitor.runtime import Runtime
from monitor.schemas import Acknowledgement

router = APIRouter()
Rt = Annotated[Runtime, Depends(runtime)]

#: Where the pages live; shipped as package data (``monitor/web/**/*``).
WEB_DIR = Path(__file__).resolve().parent.parent / "web"
_STATIC_DIR = WEB_DIR / "static"
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}
_AGENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@\-]{0,127}$")
#: Pages and assets are revalidated on every load (ETag), so an upgrade never leaves a stale script running.
_NO_CACHE = {"Cache-Control": "no-cache"}
_MAX_ACK_IDS = 500


def _page(name: str) -> FileResponse:
    return FileResponse(WEB_DIR / name, media_type=_MEDIA_TYPES[".html"], headers=_NO_CACHE)


def _not_found(detail: str) -> JSONResponse:
    return error_response(404, "not_found", detail)


@router.get("/", include_in_schema=False)
async def console_root() -> FileResponse:
    """The supervisor console is the front page, so the URL ``calmwatch serve`` prints opens it."""
    return _page("console.html")


@router.get("/console", include_in_schema=False)
async def console() -> FileResponse:
    return _page("console.html")


@router.get("/reports", include_in_schema=False)
async def reports() -> FileResponse:
    """The supervisor's reports (feedback, recovery after nudges, threshold suggestions): monitor/api/reports.py."""
    return _page("reports.html")


@router.get("/sidebar/{agent_id}", include_in_schema=False, response_model=None)
async def sidebar(agent_id: str) -> FileResponse | JSONResponse:
    """One agent's nudges; the page reads the agent id from its own URL."""
    if not _AGENT_ID.match(agent_id):
        return _not_found(f"{agent_id!r} is not an agent id")
    return _page("sidebar.html")


@router.get("/static/{path:path}", include_in_schema=False, response_model=None)
async def static_file(path: str) -> FileResponse | JSONResponse:
    """Assets of the pages. Only known file types under ``monitor/web/static`` are served (no traversal)."""
    target = (_STATIC_DIR / path).resolve()
    if not target.is_relative_to(_STATIC_DIR.resolve()) or target.suffix not in _MEDIA_TYPES or not target.is_file():
        return _not_found(f"no asset {path!r}")
    return FileResponse(target, media_type=_MEDIA_TYPES[target.suffix], headers=_NO_CACHE)


_ONE_ID = STREAM_ID_PATTERN.strip("^$")
_ID_LIST_PATTERN = f"^({_ONE_ID}(,{_ONE_ID})*)?$"
_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No valid API key or token"},
    403: {"model": ErrorBody, "description": "The key's role may not do this"},
}


class AckRequest(BaseModel):
    """Body of an acknowledgement; it may be empty."""

    model_config = ConfigDict(extra="forbid")
    by: str = Field(default="supervisor", min_length=1, max_length=100, description="who acknowledges, as shown")


@router.post(
    "/v1/alerts/{alert_id}/ack",
    tags=["alerts"],
    response_model=Acknowledgement,
    responses={**_AUTH_ERRORS, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
async def acknowledge_alert(
    alert_id: Annotated[str, PathParam(json_schema_extra={"pattern": STREAM_ID_PATTERN})],  # checked below
    rt: Rt,
    principal: Annotated[Principal, Depends(require("read"))],  # supervisors (and admins) acknowledge
    body: AckRequest | None = None,
) -> Acknowledgement | JSONResponse:
    """Acknowledge an alert for every console; acknowledging it again returns the first acknowledgement.

    ``by`` is the name consoles show; the key that did it is recorded beside it (``key_id``) for the audit."""
    if not is_stream_id(alert_id):
        return error_response(422, "invalid_alert_id", f"{alert_id!r} is not an alert id (like 1700000000000-0)")
    if not await rt.alerts.get_many([alert_id]):
        return error_response(404, "unknown_alert", f"no alert {alert_id!r} (never raised, or trimmed)")
    ack, _ = await rt.acks.acknowledge(alert_id, (body or AckRequest()).by, key_id=principal.key_id)
    return ack


@router.get(
    "/v1/alerts/acks",
    tags=["alerts"],
    response_model=list[Acknowledgement],
    responses={**_AUTH_ERRORS, 422: {"model": ErrorBody}},
    dependencies=[Depends(require("read"))],
)
async def list_acknowledgements(
    rt: Rt,
    ids: Annotated[
        str,
        Query(
            description="comma-separated alert ids (at most 500)",
            json_schema_extra={"pattern": _ID_LIST_PATTERN},  # checked below, for its code
        ),
    ] = "",
) -> list[Acknowledgement] | JSONResponse:
    """The acknowledgements of the given alerts (those that have one): what a console loads with its feed."""
    wanted = [i for i in (part.strip() for part in ids.split(",")) if i]
    if len(wanted) > _MAX_ACK_IDS or not all(is_stream_id(i) for i in wanted):
        return error_response(422, "invalid_alert_ids", f"ids must be at most {_MAX_ACK_IDS} alert ids")
    return await rt.acks.get_many(wanted)
