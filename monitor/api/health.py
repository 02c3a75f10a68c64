"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor.api.deps import runtime
from monitor.runtime import Runtime

router = APIRouter(tags=["health"])
Rt = Annotated[Runtime, Depends(runtime)]


#: How long ``/healthz`` waits for Redis's answer before calling the service unable to work.
HEALTH_PING_TIMEOUT_S = 2.0


@router.get("/healthz", responses={503: {"description": "the service cannot work: Redis does not answer"}})
async def healthz(rt: Rt) -> JSONResponse:
    """Liveness: 200 while the service can do its work, 503 while Redis (everything it does goes through it)
    does not answer, so an orchestrator's liveness probe restarts a service that is up but useless. Its
    failure threshold is the grace period: an embedded server that died is restarted within a second or so."""
    try:
        await asyncio.wait_for(rt.redis.ping(), timeout=HEALTH_PING_TIMEOUT_S)
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "redis": f"unreachable: {type(exc).__name__}"}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(rt: Rt) -> JSONResponse:
    """Ready to take traffic: Redis answers and the scorer is loaded. 503 otherwise.

    It also says how the last rule-pack reload went, so an operator who saved a broken edit sees that the old
    rules are still in force without reading the log (which has the file, rule and field; this open endpoint
    does not repeat them).
    """
    checks: dict[str, object] = {
        "scorer": rt.scorer.name,
        "rules": len(rt.rules.engine.rule_ids),
        "rule_pack_reloads": rt.rules.reloads,
        "rule_pack": "ok" if rt.rules.last_error is None else "last edit refused; previous rules in force (see log)",
    }
    ready = True
    try:
        await rt.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"unreachable: {type(exc).__name__}"
        ready = False
    return JSONResponse({"status": "ready" if ready else "not ready", **checks}, status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(rt: Rt) -> Response:
    return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)
