"""From a credential to a principal: the bootstrap admin key, and the open-only-on-loopback rule."""

from __future__ import annotations

import pytest
import structlog
from redis.asyncio import Redis

from monitor.auth import Authenticator, KeyStore, check_exposure, is_loopback
from monitor.errors import ConfigurationError, UnauthenticatedError
from monitor.runtime import open_runtime
from tests.conftest import make_settings
from tests.fakes import KeywordScorer


async def test_no_keys_on_a_public_interface_refuses_to_start(flushed_redis: str) -> None:
    """Bound to 0.0.0.0 with no keys the runtime raises ConfigurationError; a key, or an admin key in the
    settings, lets it start, and the bootstrap key authenticates as admin."""
    public = make_settings(flushed_redis, host="0.0.0.0")
    with pytest.raises(ConfigurationError, match=r"refusing to listen on 0\.0\.0\.0"):
        async with open_runtime(public, scorer=KeywordScorer()):
            pass
    bootstrap = make_settings(flushed_redis, host="0.0.0.0", admin_key="cwk_bootstrap-admin-key-for-compose")
    async with open_runtime(bootstrap, scorer=KeywordScorer()) as rt:
        principal = await rt.auth.authenticate("cwk_bootstrap-admin-key-for-compose")
        assert principal.role == "admin" and not await rt.auth.is_open()
        token, _ = rt.auth.signer.issue(principal, 60)
        assert (await rt.auth.authenticate(token)).role == "admin"
        replaced = Authenticator(rt.redis, bootstrap.model_copy(update={"admin_key": "cwk_new"}), rt.auth.signer)
        with pytest.raises(UnauthenticatedError):
            await replaced.authenticate(token)  # a token of the previous admin key dies with it
    redis = Redis.from_url(flushed_redis, decode_responses=True)
    await KeyStore(redis).create("ingest")
    await redis.aclose()
    async with open_runtime(public, scorer=KeywordScorer()) as rt:
        assert not await rt.auth.is_open()


async def test_open_on_loopback_is_loud_and_still_checks_credentials(flushed_redis: str) -> None:
    """With no keys on 127.0.0.1 everyone is admitted and a warning says so; a credential that is sent is
    still checked."""
    with structlog.testing.capture_logs() as logs:
        await check_exposure(make_settings(flushed_redis), 0)
    assert any("NO API KEYS" in entry["event"] for entry in logs)
    async with open_runtime(make_settings(flushed_redis), scorer=KeywordScorer()) as rt:
        assert await rt.auth.is_open()
        assert (await rt.auth.authenticate(None, client_host="127.0.0.1")).role == "admin"
        with pytest.raises(UnauthenticatedError):  # however the server was really bound, open means local only
            await rt.auth.authenticate(None, client_host="192.168.1.20")
        with pytest.raises(Exception, match="unknown API key"):
            await rt.auth.authenticate("cwk_wrong")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5") and not is_loopback("example.com")
