"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor.api.deps import runtime
from monitor.runtime import Runtime

router = APIRouter(tags=["health"])
Rt = Annotated[Runtime, Depends(runtime)]


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and serving HTTP."""
    return {"status": "ok"}


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
