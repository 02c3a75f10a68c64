"""``/v1/auth`` (exchange a key for a short-lived token, see who you are) and ``/v1/keys`` (admin: manage keys).

Keys are usually made with ``calmwatch keys create``; the same is possible here for an admin, so that an
operator with only network access can rotate keys. A new key is shown in the creation answer and never again.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from monitor.api.deps import runtime
from monitor.api.errors import ErrorBody, error_response, status_for
from monitor.auth import OPEN_ID, Admin, AnyCaller, KeyRecord, Role, retry_after_header
from monitor.auth.dependencies import Bearer, credential_of
from monitor.auth.tokens import TOKEN_PREFIX
from monitor.errors import RateLimitedError
from monitor.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["access"])
Rt = Annotated[Runtime, Depends(runtime)]
_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody, "description": "No valid API key or token"},
    403: {"model": ErrorBody, "description": "The key's role may not do this"},
}


class TokenReply(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer <token>`, or `?token=` on websockets")
    expires_at: datetime
    role: Role
    agent_id: str | None


class WhoAmI(BaseModel):
    key_id: str
    role: Role
    agent_id: str | None
    open: bool = Field(description="true when the service has no keys and admits everyone (loopback only)")


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    agent_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@\-]{0,127}$")
    name: str = Field(default="", max_length=200)


class KeyCreated(KeyRecord):
    key: str = Field(description="the API key; shown only now, Calmwatch keeps only its hash")


@router.post("/auth/token", response_model=TokenReply, responses=_ERRORS)
async def issue_token(principal: AnyCaller, rt: Rt, request: Request, bearer: Bearer) -> TokenReply:
    """Exchange the key in ``Authorization: Bearer`` for a token that expires (``CALMWATCH_TOKEN_TTL_S``) and
    stops working as soon as the key is revoked: what the console and the sidebar hold.

    A token may be sent instead of the key to renew it: the new token keeps the time the key was presented,
    and no token lasts past that plus ``CALMWATCH_TOKEN_MAX_SESSION_S``; after it the key is needed (401)."""
    credential = credential_of(request, bearer) or ""
    authenticated_at = rt.auth.signer.authenticated_at(credential) if credential.startswith(TOKEN_PREFIX) else None
    max_session = rt.settings.token_max_session_s
    if authenticated_at is not None and time.time() >= authenticated_at + max_session:
        raise HTTPException(
            401, "this token's session is over; exchange the API key for a new token", {"WWW-Authenticate": "Bearer"}
        )
    token, expires_at = rt.auth.signer.issue(
        principal, rt.settings.token_ttl_s, authenticated_at=authenticated_at, max_session_s=max_session
    )
    return TokenReply(token=token, expires_at=expires_at, role=principal.role, agent_id=principal.agent_id)


@router.get("/auth/whoami", response_model=WhoAmI, responses=_ERRORS)
async def whoami(principal: AnyCaller) -> WhoAmI:
    """The role and agent id of the credential sent."""
    return WhoAmI(
        key_id=principal.key_id, role=principal.role, agent_id=principal.agent_id, open=principal.key_id == OPEN_ID
    )


@router.get("/keys", response_model=list[KeyRecord], responses=_ERRORS)
async def list_keys(_: Admin, rt: Rt) -> list[KeyRecord]:
    """Every key's id, role, name and first characters; never a key."""
    return await rt.auth.api_keys.records()


@router.post("/keys", status_code=201, response_model=KeyCreated, responses={**_ERRORS, 422: {"model": ErrorBody}})
async def create_key(body: KeyCreate, _: Admin, rt: Rt) -> KeyCreated:
    """A new key; the answer is the only time it is shown."""
    try:
        key, record = await rt.auth.api_keys.create(body.role, agent_id=body.agent_id, name=body.name)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return KeyCreated(**record.model_dump(), key=key)


@router.delete("/keys/{key_id}", status_code=204, responses={**_ERRORS, 404: {"model": ErrorBody}})
async def revoke_key(key_id: str, _: Admin, rt: Rt) -> Response:
    """Revoke a key; the tokens made from it stop working at once."""
    if not await rt.auth.api_keys.revoke(key_id):
        raise HTTPException(404, f"no key {key_id!r}")
    return Response(status_code=204)


def install_rate_limit_handler(app: FastAPI) -> None:
    """429 with ``Retry-After`` (whole seconds, rounded up) for a key over its ingest rate."""

    async def on_rate_limited(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RateLimitedError)
        request.app.state.runtime.metrics.ingest_errors.labels(code=exc.code).inc()
        response = error_response(status_for(exc), exc.code, exc.detail, exc.message_id)
        response.headers["Retry-After"] = retry_after_header(exc.retry_after_s)
        return response

    app.add_exception_handler(RateLimitedError, on_rate_limited)
