"""Logs and errors carry no secrets: keys, tokens, webhook secrets and Redis passwords never reach them."""

from __future__ import annotations

import httpx
import pytest
import structlog

from tests.auth.conftest import make_key
from tests.conftest import LiveServer, make_settings
from tests.delivery.webhook_receiver import Receiver, wait_for
from tests.fakes import KeywordScorer


def test_secrets_never_reach_the_logs(flushed_redis: str) -> None:
    """Keys, tokens and webhook secrets used through a whole flow appear in no log event."""
    admin = make_key(flushed_redis, "admin")
    receiver = Receiver().start()
    try:
        with (
            structlog.testing.capture_logs() as logs,
            LiveServer(make_settings(flushed_redis, webhook_poll_s=0.05), KeywordScorer()) as server,
            httpx.Client(base_url=server.http, headers={"authorization": f"Bearer {admin}"}) as client,
        ):
            endpoint = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["alert.raised"]}).json()
            token = client.post("/v1/auth/token").json()["token"]
            client.post(f"/v1/webhooks/{endpoint['id']}/test")
            client.get("/v1/alerts", headers={"authorization": "Bearer cwk_a-wrong-key"})
            # The attempt is logged after the receiver answered, so wait for the log line, not the delivery.
            wait_for(lambda: any(e["event"] == "webhook attempt" for e in logs), what="the test delivery's log")
        text = repr(logs)
        assert any(entry["event"] == "webhook attempt" for entry in logs)  # the capture did see the service
        for secret in (admin, token, endpoint["secret"], "cwk_a-wrong-key"):
            assert secret not in text
    finally:
        receiver.stop()


async def test_redis_password_is_redacted_from_logs_and_errors() -> None:
    """A Redis URL's password never reaches the start-up error (or the 'ready' log line, which uses the same)."""
    from monitor.errors import RedisUnavailableError
    from monitor.runtime import connect_redis, redacted

    assert redacted("redis://:s3cret@redis:6379/0") == "redis://:***@redis:6379/0"
    assert redacted("unix:///tmp/x/redis.sock") == "unix:///tmp/x/redis.sock"
    with pytest.raises(RedisUnavailableError) as failed:
        await connect_redis("redis://user:s3cret@127.0.0.1:1/0", attempts=1)
    assert "s3cret" not in str(failed.value) and "user:***@127.0.0.1:1" in str(failed.value)
