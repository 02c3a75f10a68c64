"""Who may do what: API keys with roles, short-lived tokens, per-key ingest rate limits, and the FastAPI
dependencies that guard every route.

Roles (one per key):

=============  ==========================================================================================
``ingest``     send conversation events and messages (``POST /v1/conversations``, ``/v1/messages``, ``WS /v1/stream``)
``supervisor`` read alerts and conversations, acknowledge alerts, the console, any agent's nudges
``agent``      only its own nudges (``WS /v1/agents/{its id}/nudges``); the key carries that agent id
``admin``      everything, including keys and webhooks
=============  ==========================================================================================

Keys are 256-bit random strings shown once; Redis keeps only their SHA-256 (a fast hash is enough for a
high-entropy secret: there is nothing to brute-force). A browser cannot set headers on a websocket and should
not hold a long-lived key, so a key can be exchanged for a short-lived token (an HMAC-signed expiry, refused
as soon as its key is revoked) that works wherever a key does: ``Authorization: Bearer`` on REST and websockets,
or ``?token=`` on websockets. Websockets are checked before ``accept()``: a refused client never gets a socket.

With no keys at all the service is open, which is only allowed on a loopback interface (and logged loudly);
bound anywhere else it refuses to start (:func:`check_exposure`).

Rate limits are token buckets in Redis (a Lua script), not in process memory: a limit is a promise about a
key, and with several service processes an in-process bucket would quietly multiply it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import math
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal, get_args

import structlog
from fastapi import Depends, HTTPException, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.exceptions import WebSocketException
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from monitor import redis_keys
from monitor.errors import ConfigurationError, RateLimitedError, UnauthenticatedError
from monitor.settings import Settings

log = structlog.get_logger("auth")

Role = Literal["ingest", "supervisor", "agent", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
Capability = Literal["ingest", "read", "admin"]

KEY_PREFIX = "cwk_"
TOKEN_PREFIX = "cwt_"
#: Key ids for principals that have no stored key record.
OPEN_ID = "open"
BOOTSTRAP_ID = "bootstrap"

_CAPABILITIES: dict[str, frozenset[str]] = {
    "ingest": frozenset({"ingest"}),
    "supervisor": frozenset({"read"}),
    "agent": frozenset(),
    "admin": frozenset({"ingest", "read", "admin"}),
}
#: WebSocket close code for a refused credential (RFC 6455 "Policy Violation").
CLOSE_POLICY = 1008


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def is_loopback(host: str) -> bool:
    """True for hosts only this machine can reach (``127.0.0.1``, ``::1``, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class KeyRecord(BaseModel):
    """What is stored about an API key (never the key itself)."""

    id: str
    role: Role
    agent_id: str | None = None
    name: str = ""
    created_at: datetime
    prefix: str  # the key's first characters, so a human can tell keys apart in a listing


@dataclass(frozen=True)
class Principal:
    """The caller of a request, as established by its credential."""

    key_id: str
    role: Role
    agent_id: str | None = None

    def can(self, capability: Capability) -> bool:
        return capability in _CAPABILITIES[self.role]

    def can_read_nudges(self, agent_id: str) -> bool:
        """Supervisors and admins watch any agent; an agent key only its own agent id."""
        if self.can("read"):
            return True
        return self.role == "agent" and self.agent_id is not None and hmac.compare_digest(self.agent_id, agent_id)

    @property
    def rate_limited(self) -> bool:
        return self.key_id != OPEN_ID


class KeyStore:
    """API keys in Redis: create (key shown once), look up by hash, list, revoke."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def create(self, role: Role, *, agent_id: str | None = None, name: str = "") -> tuple[str, KeyRecord]:
        """A new random key and its record; the key is returned here and nowhere else, ever."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        if role == "agent" and not agent_id:
            raise ValueError("an agent key needs the agent id it may read (--agent-id)")
        if role != "agent" and agent_id:
            raise ValueError("only agent keys carry an agent id")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        record = KeyRecord(
            id="key_" + secrets.token_hex(6),
            role=role,
            agent_id=agent_id,
            name=name,
            created_at=datetime.now(UTC),
            prefix=key[:10],
        )
        digest = hash_key(key)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(redis_keys.API_KEYS, digest, record.model_dump_json())
            pipe.hset(redis_keys.API_KEY_IDS, record.id, digest)
            await pipe.execute()
        return key, record

    async def lookup(self, key: str) -> KeyRecord | None:
        raw = await self._redis.hget(redis_keys.API_KEYS, hash_key(key))
        return KeyRecord.model_validate_json(raw) if raw else None

    async def exists(self, key_id: str) -> bool:
        return bool(await self._redis.hexists(redis_keys.API_KEY_IDS, key_id))

    async def count(self) -> int:
        return int(await self._redis.hlen(redis_keys.API_KEYS))

    async def records(self) -> list[KeyRecord]:
        records = [
            KeyRecord.model_validate_json(raw) for raw in (await self._redis.hgetall(redis_keys.API_KEYS)).values()
        ]
        return sorted(records, key=lambda r: r.created_at)

    async def revoke(self, key_id: str) -> bool:
        """Delete a key; its tokens stop working at once. False when there was no such key."""
        digest = await self._redis.hget(redis_keys.API_KEY_IDS, key_id)
        if digest is None:
            return False
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(redis_keys.API_KEYS, digest)
            pipe.hdel(redis_keys.API_KEY_IDS, key_id)
            await pipe.execute()
        return True


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """``cwt_<payload>.<hmac>``: a principal and an expiry, signed with a secret shared through Redis."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def issue(self, principal: Principal, ttl_s: int, *, now: float | None = None) -> tuple[str, datetime]:
        expires = int((now if now is not None else time.time()) + ttl_s)
        payload = _b64(
            json.dumps(
                {"kid": principal.key_id, "role": principal.role, "agent_id": principal.agent_id, "exp": expires},
                separators=(",", ":"),
            ).encode()
        )
        return f"{TOKEN_PREFIX}{payload}.{self._sign(payload)}", datetime.fromtimestamp(expires, UTC)

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


_TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst / rate) * 1000) + 1000)
if allowed == 1 then return {1, '0'} end
return {0, tostring((1 - tokens) / rate)}
"""


class Authenticator:
    """Turns a credential into a :class:`Principal` and applies the per-key ingest rate limit."""

    def __init__(self, redis: Redis, settings: Settings, signer: TokenSigner) -> None:
        self.keys = KeyStore(redis)
        self.signer = signer
        self._redis = redis
        self._settings = settings
        self._bucket = redis.register_script(_TOKEN_BUCKET)

    @classmethod
    async def open(cls, redis: Redis, settings: Settings) -> Authenticator:
        """Load (or create, once for all processes) the token secret and check the exposure rule."""
        await redis.set(redis_keys.TOKEN_SECRET, secrets.token_hex(32), nx=True)
        secret = await redis.get(redis_keys.TOKEN_SECRET)
        assert secret is not None
        auth = cls(redis, settings, TokenSigner(secret if isinstance(secret, bytes) else secret.encode()))
        await check_exposure(settings, await auth.keys.count())
        return auth

    async def is_open(self) -> bool:
        """Open mode: no keys of any kind, on a loopback host. Re-checked per request, so a key created while
        the service runs closes it at once."""
        if self._settings.admin_key or not is_loopback(self._settings.host):
            return False
        return await self.keys.count() == 0

    async def authenticate(self, credential: str | None, *, client_host: str | None = None) -> Principal:
        """The caller; raises :class:`UnauthenticatedError`. A credential, when sent, is always checked, even when
        the service is open, so a wrong key is never silently accepted. Open mode admits only local clients
        (``client_host`` loopback, or None for a unix socket), whatever interface the server was really bound to."""
        if not credential:
            local = client_host is None or is_loopback(client_host)
            if local and await self.is_open():
                return Principal(key_id=OPEN_ID, role="admin")
            raise UnauthenticatedError("an API key or token is required (Authorization: Bearer ...)")
        if credential.startswith(TOKEN_PREFIX):
            principal = self.signer.verify(credential)
            if principal is None or not await self._still_valid(principal.key_id):
                raise UnauthenticatedError("the token is invalid, expired or its key was revoked")
            return principal
        record = await self.keys.lookup(credential)
        if record is not None:
            return Principal(key_id=record.id, role=record.role, agent_id=record.agent_id)
        admin_key = self._settings.admin_key
        if admin_key and hmac.compare_digest(credential.encode(), admin_key.encode()):
            return Principal(key_id=self._bootstrap_id(), role="admin")
        raise UnauthenticatedError("unknown API key")

    async def _still_valid(self, key_id: str) -> bool:
        if key_id == OPEN_ID:
            return await self.is_open()
        if key_id.startswith(BOOTSTRAP_ID):
            return bool(self._settings.admin_key) and hmac.compare_digest(key_id, self._bootstrap_id())
        return await self.keys.exists(key_id)

    def _bootstrap_id(self) -> str:
        """The bootstrap key's id names a hash of it, so tokens made from a replaced admin key stop working."""
        return f"{BOOTSTRAP_ID}-{hash_key(self._settings.admin_key or '')[:12]}"

    async def take(self, principal: Principal) -> None:
        """Spend one ingest event from the key's bucket; raises :class:`RateLimitedError` when it is empty."""
        if not principal.rate_limited:
            return
        allowed, retry_after = await self._bucket(
            keys=[redis_keys.rate_limit(principal.key_id)],
            args=[self._settings.ingest_rate_per_s, self._settings.ingest_burst],
        )
        if not int(allowed):
            raise RateLimitedError(float(retry_after))


async def check_exposure(settings: Settings, key_count: int) -> None:
    """Refuse to serve an open API on a reachable interface; say loudly when open on loopback."""
    if key_count or settings.admin_key:
        return
    if not is_loopback(settings.host):
        raise ConfigurationError(
            f"refusing to listen on {settings.host} with no API keys: anyone who can reach it could read every "
            f"conversation. Create a key first (calmwatch keys create --role admin), set CALMWATCH_ADMIN_KEY, "
            f"or bind to 127.0.0.1"
        )
    log.warning(
        "NO API KEYS: the API is open to every local process on this machine; "
        "create one with `calmwatch keys create --role admin` to require keys",
        host=settings.host,
    )


# --- FastAPI dependencies -------------------------------------------------------------------------------


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


Reader = Annotated[Principal, Depends(require("read"))]
Ingester = Annotated[Principal, Depends(require_ingest)]
Admin = Annotated[Principal, Depends(require("admin"))]


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


@contextlib.asynccontextmanager
async def admin_redis(settings: Settings) -> AsyncIterator[Redis]:
    """The service's Redis, for commands run beside it (``calmwatch keys``): the configured URL; else the
    embedded server of the running service (its socket in the state dir); else that server started just for
    the command, on the same data, so the keys are there when the service starts."""
    from monitor.redis_server import EmbeddedRedis

    embedded: EmbeddedRedis | None = None
    if settings.redis_url:
        url = settings.redis_url
    else:
        server = EmbeddedRedis(settings.state_dir / "redis")
        url = server.url
        if not await _answers(url):
            embedded = server
            await asyncio.to_thread(server.start)
    client: Redis = Redis.from_url(url)
    try:
        await client.ping()
        yield client
    finally:
        await client.aclose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


async def _answers(url: str) -> bool:
    client: Redis = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(await client.ping())
    except (OSError, RedisError):
        return False
    finally:
        await client.aclose()


async def preflight(settings: Settings) -> None:
    """``calmwatch serve``'s check before it binds: the same rule as at start-up, with a clean message."""
    if is_loopback(settings.host) or settings.admin_key:
        return
    async with admin_redis(settings) as redis:
        await check_exposure(settings, await KeyStore(redis).count())
