"""Short-lived signed tokens for the console and the sidebar.

A browser cannot set headers on a websocket and should not hold a long-lived key, so a key can be exchanged
for a token (``POST /v1/auth/token``): an HMAC-signed principal and expiry, ``cwt_<payload>.<signature>``.
It works wherever a key does (``Authorization: Bearer``, or ``?token=`` on websockets) and is refused as soon
as its key is revoked (the :class:`~monitor.auth.authenticator.Authenticator` checks the key still exists).

Renewal: a token exchanged for a new one passes on when its key was presented (the ``auth`` claim), and no
token reaches past ``auth`` + the maximum session (``CALMWATCH_TOKEN_MAX_SESSION_S``): a console renews its
token all day, and then needs its key again; a token copied from somewhere cannot be renewed for ever.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

from monitor.auth.policy import ROLES, Principal

TOKEN_PREFIX = "cwt_"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """``cwt_<payload>.<hmac>``: a principal and an expiry, signed with a secret shared through Redis."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def issue(
        self,
        principal: Principal,
        ttl_s: int,
        *,
        now: float | None = None,
        authenticated_at: float | None = None,
        max_session_s: float | None = None,
    ) -> tuple[str, datetime]:
        """A token for ``principal`` valid ``ttl_s``; ``authenticated_at`` (default now) is when its key was
        presented, and with ``max_session_s`` the token expires no later than that plus the maximum session."""
        now = now if now is not None else time.time()
        auth = int(authenticated_at if authenticated_at is not None else now)
        expires = int(now + ttl_s)
        if max_session_s is not None:
            expires = min(expires, int(auth + max_session_s))
        claims = {"kid": principal.key_id, "role": principal.role, "agent_id": principal.agent_id, "exp": expires}
        payload = _b64(json.dumps({**claims, "auth": auth}, separators=(",", ":")).encode())
        return f"{TOKEN_PREFIX}{payload}.{self._sign(payload)}", datetime.fromtimestamp(expires, UTC)

    def authenticated_at(self, token: str) -> float | None:
        """When the key behind a valid token was presented (its ``auth`` claim; ``exp`` for older tokens)."""
        if self.verify(token) is None:
            return None
        claims = json.loads(_unb64(token.removeprefix(TOKEN_PREFIX).partition(".")[0]))
        return float(claims.get("auth", 0))

    def verify(self, token: str, *, now: float | None = None) -> Principal | None:
        """The token's principal, or None when it is malformed, forged or expired."""
        body = token.removeprefix(TOKEN_PREFIX)
        payload, _, signature = body.partition(".")
        if not payload or not signature or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            claims = json.loads(_unb64(payload))
            expired = float(claims["exp"]) < (now if now is not None else time.time())
            principal = Principal(key_id=str(claims["kid"]), role=claims["role"], agent_id=claims.get("agent_id"))
        except (ValueError, KeyError, TypeError):
            return None
        if expired or principal.role not in ROLES:
            return None
        return principal

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())
