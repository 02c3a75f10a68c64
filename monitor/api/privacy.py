"""``DELETE /v1/conversations/{id}`` and ``GET /v1/audit``: erasure on request, and its record (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from monitor.api.deps import runtime
from monitor.api.errors import ErrorBody
from monitor.auth import Admin
from monitor.errors import UnknownConversationError
from monitor.privacy.erasure import AuditEvent, Eraser, Erasure
from monitor.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["privacy"])
Rt = Annotated[Runtime, Depends(runtime)]
_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody, "description": "No valid API key or token"},
    403: {"model": ErrorBody, "description": "Only admin keys may erase or read the audit stream"},
}


@router.delete(
    "/conversations/{conversation_id}",
    response_model=Erasure,
    responses={**_ERRORS, 404: {"model": ErrorBody, "description": "Nothing of the conversation is stored"}},
)
async def erase_conversation(conversation_id: str, rt: Rt, principal: Admin) -> Erasure:
    """Erase the conversation: its turns, cached replies and state, and its alerts' texts (the alerts stay
    counted). Recorded in the audit stream, also when nothing was found (404)."""
    erasure = await Eraser(rt.redis).erase_conversation(conversation_id, by=principal.key_id)
    if not erasure.found:
        raise UnknownConversationError(conversation_id)
    return erasure


@router.get("/audit", response_model=list[AuditEvent], responses=_ERRORS)
async def audit(rt: Rt, _: Admin, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[AuditEvent]:
    """The latest audit events (erasures: who, when, what), newest first."""
    return await Eraser(rt.redis).audit(limit=limit)
