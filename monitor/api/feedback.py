"""``POST /v1/alerts/{id}/feedback``: an agent or a supervisor says whether an alert helped or was a false alarm.

An agent key may judge only the alerts of its own agent id (its sidebar's nudges); supervisor and admin keys
any alert. Who gave the verdict is taken from the credential, not the body: the agent id for an agent key, the
key's name for a supervisor or admin key (or, for a key without a name and in open mode, the name the console
sends as ``by``). The verdict is stored, announced live, and sent to webhooks as ``alert.feedback`` by the
dispatcher, which reads the feedback log through its consumer group as it reads the alert stream.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from monitor.alerts import STREAM_ID_PATTERN, is_stream_id
from monitor.api.deps import runtime
from monitor.api.errors import ErrorBody, error_response
from monitor.auth import AnyCaller, Principal
from monitor.runtime import Runtime
from monitor.schemas import Feedback, Verdict

router = APIRouter(prefix="/v1", tags=["alerts"])
Rt = Annotated[Runtime, Depends(runtime)]


class FeedbackRequest(BaseModel):
    """Body of ``POST /v1/alerts/{id}/feedback``."""

    model_config = ConfigDict(extra="forbid")
    verdict: Verdict
    note: str = Field(default="", max_length=500, description="optional: why, in a few words")
    by: str | None = Field(
        default=None, min_length=1, max_length=100, description="shown name, used only when the key has none"
    )


async def _who(rt: Runtime, principal: Principal, asked: str | None) -> str:
    if principal.role == "agent" and principal.agent_id:
        return principal.agent_id
    record = await rt.auth.api_keys.by_id(principal.key_id)
    if record is not None and record.name:
        return record.name
    return asked or principal.role


@router.post(
    "/alerts/{alert_id}/feedback",
    response_model=Feedback,
    responses={
        401: {"model": ErrorBody, "description": "No valid API key or token"},
        403: {"model": ErrorBody, "description": "Not this key's alert, or a role that gives no feedback"},
        404: {"model": ErrorBody},
        422: {"model": ErrorBody},
    },
)
async def give_feedback(
    alert_id: Annotated[str, PathParam(json_schema_extra={"pattern": STREAM_ID_PATTERN})],  # checked below
    body: FeedbackRequest,
    rt: Rt,
    principal: AnyCaller,
) -> Feedback | JSONResponse:
    """Mark an alert helpful or a false alarm; the latest verdict is the alert's ``feedback``, earlier ones are kept."""
    if not is_stream_id(alert_id):
        return error_response(422, "invalid_alert_id", f"{alert_id!r} is not an alert id (like 1700000000000-0)")
    if principal.role == "ingest":
        return error_response(403, "forbidden", "an ingest key may not give feedback")
    found = await rt.alerts.get_many([alert_id])
    if not found:
        return error_response(404, "unknown_alert", f"no alert {alert_id!r} (never raised, or trimmed)")
    alert = found[0]
    if principal.role == "agent" and not principal.can_read_nudges(alert.agent_id):
        return error_response(403, "forbidden", "an agent key may give feedback only on its own agent's alerts")
    by = await _who(rt, principal, body.by)
    feedback, _ = await rt.feedback.give(
        alert, body.verdict, by=by, by_role=principal.role, note=body.note.strip(), key_id=principal.key_id
    )
    return feedback
