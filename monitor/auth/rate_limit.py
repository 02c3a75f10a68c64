"""Per-key ingest rate limits: a token bucket per API key, kept in Redis and updated by one Lua script.

Not in process memory: a limit is a promise about a key, and with several service processes an in-process
bucket would quietly multiply it.
"""

from __future__ import annotations

import math

from redis.asyncio import Redis

from monitor import redis_keys
from monitor.auth.policy import Principal
from monitor.errors import RateLimitedError

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


class IngestRateLimit:
    """``rate_per_s`` ingest events per key on average, bursts of up to ``burst``."""

    def __init__(self, redis: Redis, *, rate_per_s: float, burst: int) -> None:
        self._bucket = redis.register_script(_TOKEN_BUCKET)
        self._rate_per_s = rate_per_s
        self._burst = burst

    async def take(self, principal: Principal) -> None:
        """Spend one ingest event from the key's bucket; raises :class:`RateLimitedError` when it is empty."""
        if not principal.rate_limited:
            return
        allowed, retry_after = await self._bucket(
            keys=[redis_keys.rate_limit(principal.key_id)], args=[self._rate_per_s, self._burst]
        )
        if not int(allowed):
            raise RateLimitedError(float(retry_after))


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` takes whole seconds: round up, so a client that waits that long is let in."""
    return str(max(1, math.ceil(seconds)))
