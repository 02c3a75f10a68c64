"""``POST /v1/connectors/<platform>``: chat platforms' webhooks in, authenticated by the platform's signature.

Not by Calmwatch API keys: a platform cannot send one. With the platform's secret configured, a request
without a valid, fresh signature is refused with 401 and the reason is logged; with none configured, the
connector works only while the service is in open mode (no keys, loopback), like the rest of the API. The
answer comes as soon as the events are queued (:mod:`monitor.connectors.queue`): scoring never makes the
platform wait.
"""

from __future__ import annotations

import time
from typing import Annotated
from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse

from monitor.api.console import WEB_DIR
from monitor.api.deps import runtime
from monitor.api.errors import ErrorBody, error_response
from monitor.connectors import Request as ConnectorRequest
from monitor.errors import IngestError, SignatureError
from monitor.runtime import Runtime

router = APIRouter(tags=["connectors"])
Rt = Annotated[Runtime, Depends(runtime)]
log = structlog.get_logger("connectors")


@router.get("/connectors/chatwoot/app", include_in_schema=False)
async def chatwoot_dashboard_app() -> FileResponse:
    """The Dashboard App URL to give Chatwoot: it waits for the appContext and opens that conversation's sidebar."""
    return FileResponse(
        WEB_DIR / "chatwoot-app.html", media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"}
    )


@router.post(
    "/v1/connectors/{platform}",
    responses={
        200: {"description": "Queued (or ignored, or a re-delivery): `{queued, duplicates, ignored}`"},
        401: {"model": ErrorBody, "description": "Missing, wrong or stale platform signature"},
        404: {"model": ErrorBody, "description": "No connector for this platform"},
        422: {"model": ErrorBody, "description": "A body the connector cannot read"},
    },
)
async def receive(platform: str, request: Request, rt: Rt) -> JSONResponse:
    """A platform's webhook: chatwoot, zendesk, intercom, livechat, twilio or slack (docs/connectors.md)."""
    connector = rt.connectors.connectors.get(platform)
    if connector is None:
        known = ", ".join(rt.connectors.connectors)
        return error_response(404, "not_found", f"no connector {platform!r}; there are: {known}")
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    form: tuple[tuple[str, str], ...] = ()
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        try:
            form = tuple(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise IngestError("invalid_encoding", "the form body is not UTF-8") from None
    incoming = ConnectorRequest(body=body, headers=headers, url=str(request.url), form=form)
    if connector.secret_configured:
        try:
            connector.verify(incoming, now=time.time())
        except SignatureError as exc:
            client = request.client.host if request.client else None
            log.warning("connector webhook refused", platform=platform, reason=str(exc), client=client)
            rt.connectors.outcomes.labels(platform=platform, outcome="refused").inc()
            return error_response(401, "bad_signature", str(exc))
    elif not await rt.auth.is_open():
        reason = f"no secret is configured for {platform}; set it (docs/connectors.md) to accept its webhooks"
        log.warning("connector webhook refused", platform=platform, reason=reason)
        rt.connectors.outcomes.labels(platform=platform, outcome="refused").inc()
        return error_response(401, "bad_signature", reason)
    parsed = connector.parse(incoming)
    accepted = await rt.connectors.queue.accept(platform, parsed.deliveries)
    for outcome, count in (("queued", accepted.queued), ("duplicate", accepted.duplicates)):
        rt.connectors.outcomes.labels(platform=platform, outcome=outcome).inc(count)
    rt.connectors.outcomes.labels(platform=platform, outcome="ignored").inc(len(accepted.ignored))
    log.info(
        "connector webhook accepted",
        platform=platform,
        queued=accepted.queued,
        duplicates=accepted.duplicates,
        ignored=len(accepted.ignored),
    )
    return JSONResponse(parsed.reply if parsed.reply is not None else accepted.body())
