"""From a credential to a :class:`~monitor.auth.policy.Principal`: an API key, a token, the bootstrap admin key
from the settings, or nothing at all where the service is open (loopback only)."""

from __future__ import annotations

import hmac
import secrets

from redis.asyncio import Redis

from monitor import redis_keys
from monitor.auth.api_keys import KeyStore, hash_key
from monitor.auth.policy import BOOTSTRAP_ID, OPEN_ID, Principal, check_exposure, is_loopback
from monitor.auth.rate_limit import IngestRateLimit
from monitor.auth.tokens import TOKEN_PREFIX, TokenSigner
from monitor.errors import UnauthenticatedError
from monitor.settings import Settings


class Authenticator:
    """Turns a credential into a :class:`Principal` and applies the per-key ingest rate limit.

    ``redis`` must decode responses (``decode_responses=True``), like every client of the service."""

    def __init__(self, redis: Redis, settings: Settings, signer: TokenSigner) -> None:
        self.api_keys = KeyStore(redis)
        self.signer = signer
        self.rate_limit = IngestRateLimit(redis, rate_per_s=settings.ingest_rate_per_s, burst=settings.ingest_burst)
        self._settings = settings

    @classmethod
    async def open(cls, redis: Redis, settings: Settings) -> Authenticator:
        """Load (or create, once for all processes) the token secret and check the exposure rule."""
        await redis.set(redis_keys.TOKEN_SECRET, secrets.token_hex(32), nx=True)
        secret = await redis.get(redis_keys.TOKEN_SECRET)
        assert isinstance(secret, str), "the client must decode responses"
        auth = cls(redis, settings, TokenSigner(secret.encode()))
        await check_exposure(settings, await auth.api_keys.count())
        return auth

    async def is_open(self) -> bool:
        """Open mode: no keys of any kind, on a loopback host. Re-checked per request, so a key created while
        the service runs closes it at once."""
        if self._settings.admin_key or not is_loopback(self._settings.host):
            return False
        return await self.api_keys.count() == 0

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
        record = await self.api_keys.lookup(credential)
        if record is not None:
            return Principal(key_id=record.id, role=record.role, agent_id=record.agent_id)
        admin_key = self._settings.admin_key
        if admin_key and hmac.compare_digest(credential.encode(), admin_key.encode()):
            return Principal(key_id=self._bootstrap_id(), role="admin")
        raise UnauthenticatedError("unknown API key")

    async def still_valid(self, principal: Principal) -> bool:
        """False once the key behind ``principal`` (or behind its token) is revoked: open websockets re-check
        this, so a revocation reaches connections opened before it, in every process. A connection opened in
        open mode ends with open mode: once the first key exists it no longer holds."""
        return await self._still_valid(principal.key_id)

    async def _still_valid(self, key_id: str) -> bool:
        if key_id == OPEN_ID:
            return await self.is_open()
        if key_id.startswith(BOOTSTRAP_ID):
            return bool(self._settings.admin_key) and hmac.compare_digest(key_id, self._bootstrap_id())
        return await self.api_keys.exists(key_id)

    def _bootstrap_id(self) -> str:
        """The bootstrap key's id names a hash of it, so tokens made from a replaced admin key stop working."""
        return f"{BOOTSTRAP_ID}-{hash_key(self._settings.admin_key or '')[:12]}"

    async def take(self, principal: Principal) -> None:
        """Spend one ingest event of the caller's rate limit; raises :class:`RateLimitedError` when it is spent."""
        await self.rate_limit.take(principal)


async def preflight(settings: Settings) -> None:
    """``calmwatch serve``'s check before it binds: the same rule as at start-up, with a clean message."""
    from monitor.redis_server import admin_redis

    if is_loopback(settings.host) or settings.admin_key:
        return
    async with admin_redis(settings) as redis:
        await check_exposure(settings, await KeyStore(redis).count())
