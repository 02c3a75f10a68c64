"""The reports page's data (the page itself is served with the console's): ``GET /v1/reports``, one
conversation's timeline, and the admin's side of threshold suggestions (``POST /v1/rules/overrides``, and
its audit log).

The page needs a supervisor key (it reads every conversation's alerts and feedback); applying a suggestion
needs an admin key. Nothing is ever applied automatically: a suggestion is data until an admin posts it.
"""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from monitor.api.deps import runtime
from monitor.api.errors import ErrorBody, error_response
from monitor.auth import Admin, require
from monitor.errors import RulePackError
from monitor.outcomes import ConversationRecord
from monitor.reports import Window, build_report, load_window, timeline
from monitor.rules.overrides import OverrideAudit, OverrideChange, new_change, pack_paths, write_override
from monitor.rules.schema import RULE_ID_PATTERN
from monitor.runtime import Runtime
from monitor.schemas import utcnow

router = APIRouter()
Rt = Annotated[Runtime, Depends(runtime)]
_READ = [Depends(require("read"))]
_AUTH: dict[int | str, dict[str, Any]] = {401: {"model": ErrorBody}, 403: {"model": ErrorBody}}


@router.get("/v1/reports", tags=["reports"], responses={**_AUTH, 422: {"model": ErrorBody}}, dependencies=_READ)
async def get_report(
    rt: Rt,
    hours: Annotated[float | None, Query(gt=0, le=24 * 31, description="window, hours back from now")] = None,
) -> dict[str, Any]:
    """Alerts per rule over time, false alarms, recovery after nudges against cooldown turns (per rule, agent
    and team), the conversations with alerts, and threshold suggestions, over the last ``hours``."""
    settings = rt.settings
    until = utcnow()
    window = Window(since=until - timedelta(hours=hours or settings.report_window_h), until=until)
    data = await load_window(rt.redis, window, max_alerts=settings.report_max_alerts)
    engine = rt.rules.engine
    report = await asyncio.to_thread(
        build_report,
        data,
        engine,
        window,
        turn_window=settings.turn_window,
        horizon=settings.outcome_horizon_turns,
        teams=settings.agent_teams,
        min_feedback=settings.suggest_min_feedback,
    )
    report["audit"] = [c.model_dump(mode="json") for c in await OverrideAudit(rt.redis).entries(limit=20)]
    return report


@router.get(
    "/v1/reports/conversations/{conversation_id}",
    tags=["reports"],
    responses={**_AUTH, 404: {"model": ErrorBody}},
    dependencies=_READ,
)
async def get_timeline(conversation_id: str, rt: Rt) -> Any:
    """One conversation's anger and frustration per turn, with its alerts and their current verdicts."""
    meta = await rt.store.meta(conversation_id)
    if meta is None:
        return error_response(404, "unknown_conversation", f"no conversation {conversation_id!r} (or it expired)")
    turns = await rt.store.turns(conversation_id)
    alerts = await rt.alerts.get_many(await rt.store.alert_ids(conversation_id))
    feedback = await rt.feedback.get_many([a.id for a in alerts])
    return timeline(ConversationRecord(meta, turns, alerts), feedback)


class OverrideRequest(BaseModel):
    """Body of ``POST /v1/rules/overrides``: one parameter of one rule, e.g. from a suggestion."""

    model_config = ConfigDict(extra="forbid")
    rule: str = Field(pattern=RULE_ID_PATTERN)
    param: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    value: float = Field(ge=0.0, le=1.0)
    reason: str = Field(default="", max_length=300)


@router.post(
    "/v1/rules/overrides",
    tags=["rules"],
    response_model=OverrideChange,
    responses={**_AUTH, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
async def apply_override(body: OverrideRequest, rt: Rt, principal: Admin) -> OverrideChange | JSONResponse:
    """Write the change into the rule-pack override file, reload the live pack, and audit who did it."""
    engine = rt.rules.engine
    if body.rule not in {spec.id for spec in engine.rules}:
        return error_response(404, "unknown_rule", f"no rule {body.rule!r} in the loaded pack")
    old = engine.parameter(body.rule, body.param)
    if not isinstance(old, int | float) or isinstance(old, bool) or not math.isfinite(float(old)):
        return error_response(422, "invalid_param", f"rule {body.rule!r} has no numeric parameter {body.param!r}")
    record = await rt.auth.api_keys.by_id(principal.key_id)
    by = record.name if record is not None and record.name else principal.key_id
    change = new_change(
        body.rule, body.param, float(old), body.value, by=by, key_id=principal.key_id, reason=body.reason
    )
    path = rt.settings.override_file
    try:
        await asyncio.to_thread(write_override, rt.settings.rules_paths, path, change)
    except RulePackError as exc:
        return error_response(422, "invalid_override", str(exc))
    rt.rules.paths = pack_paths(rt.settings.rules_paths, path)
    if not rt.rules.reload_now():
        return error_response(422, "invalid_override", str(rt.rules.last_error))
    await OverrideAudit(rt.redis).record(change)
    return change


@router.get(
    "/v1/rules/overrides/audit",
    tags=["rules"],
    response_model=list[OverrideChange],
    responses=_AUTH,
    dependencies=_READ,
)
async def override_audit(rt: Rt, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[OverrideChange]:
    """Applied overrides, newest first: rule, parameter, old and new value, who and when."""
    return await OverrideAudit(rt.redis).entries(limit=limit)
