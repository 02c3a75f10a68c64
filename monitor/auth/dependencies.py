"""The FastAPI dependencies that guard every route, REST and websocket alike.

Websockets are checked before ``accept()``: a refused client never gets a socket (it sees the handshake
closed with 1008, "Policy Violation"); REST answers 401 with a Bearer challenge, or 403 for the wrong role.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import WebSocketException
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from monitor.auth.authenticator import Authenticator
from monitor.auth.policy import Capability, Principal
from monitor.errors import UnauthenticatedError

#: WebSocket close code for a refused credential (RFC 6455 "Policy Violation").
CLOSE_POLICY = 1008


def _authenticator(conn: HTTPConnection) -> Authenticator:
    auth: Authenticator = conn.app.state.runtime.auth
    return auth


#: Declares the scheme in OpenAPI (the "Authorize" button of /docs); works for REST and websockets alike.
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An API key (cwk_...) or a token from POST /v1/auth/token (cwt_...). Websockets: or ?token=.",
)
Bearer = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]


def credential_of(conn: HTTPConnection, bearer: HTTPAuthorizationCredentials | None) -> str | None:
    """``Authorization: Bearer`` first; websockets may pass ``?token=`` since browsers cannot set headers."""
    if bearer is not None and bearer.credentials.strip():
        return bearer.credentials.strip()
    if isinstance(conn, WebSocket):
        return conn.query_params.get("token") or None
    return None


def _refuse(conn: HTTPConnection, status: int, detail: str) -> Exception:
    if isinstance(conn, WebSocket):
        return WebSocketException(code=CLOSE_POLICY, reason=detail[:120])
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return HTTPException(status_code=status, detail=detail, headers=headers)


async def current_principal(conn: HTTPConnection, bearer: Bearer) -> Principal:
    """Any authenticated caller (401 / close 1008 otherwise)."""
    try:
        client_host = conn.client.host if conn.client else None
        return await _authenticator(conn).authenticate(credential_of(conn, bearer), client_host=client_host)
    except UnauthenticatedError as exc:
        raise _refuse(conn, 401, str(exc)) from None


AnyCaller = Annotated[Principal, Depends(current_principal)]


def require(capability: Capability) -> Callable[[HTTPConnection, Principal], Awaitable[Principal]]:
    """A dependency admitting callers whose role has ``capability`` (403 / close 1008 for the others)."""

    async def dependency(conn: HTTPConnection, principal: AnyCaller) -> Principal:
        if not principal.can(capability):
            raise _refuse(conn, 403, f"a {principal.role} key may not do this (needs {capability})")
        return principal

    dependency.__name__ = f"require_{capability}"
    return dependency


async def require_ingest(
    conn: HTTPConnection, principal: Annotated[Principal, Depends(require("ingest"))]
) -> Principal:
    """An ingest caller with room left in its rate limit (429 with ``Retry-After`` otherwise)."""
    await _authenticator(conn).take(principal)
    return principal


async def require_nudges(conn: HTTPConnection, agent_id: str, principal: AnyCaller) -> Principal:
    """The agent itself, a supervisor or an admin; any other agent's key is refused."""
    if not principal.can_read_nudges(agent_id):
        raise _refuse(conn, 403, "this key may read only its own agent's nudges")
    return principal


Admin = Annotated[Principal, Depends(require("admin"))]
