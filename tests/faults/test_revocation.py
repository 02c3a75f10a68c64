"""Issue 20, item 12: revoking a key closes the websockets already open with it, in every process."""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.faults.processes import Service, ValkeyProcess

ADMIN = "cwk_revocation-test-admin-key-0123456789"


def _close_code(ws: ClientConnection) -> int | None:
    """Read until the service closes the socket (10 s at most); the close code it sent."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=10)
    return closed.value.rcvd.code if closed.value.rcvd else None


@pytest.mark.slow
def test_revoking_keys_closes_their_open_sockets_in_another_process() -> None:
    """Keys revoked on one service close the ingest stream and the agent sidebar open on another with 1008."""
    with tempfile.TemporaryDirectory(prefix="cw-", dir="/tmp") as tmp:
        server = ValkeyProcess(Path(tmp) / "redis").start()
        try:
            env = {"CALMWATCH_ADMIN_KEY": ADMIN}
            with (
                Service(Path(tmp) / "a", redis_url=server.url, **env) as a,
                Service(Path(tmp) / "b", redis_url=server.url, **env) as b,
            ):
                admin = {"authorization": f"Bearer {ADMIN}"}
                ingest = httpx.post(f"{a.http}/v1/keys", json={"role": "ingest"}, headers=admin).json()
                agent = httpx.post(f"{a.http}/v1/keys", json={"role": "agent", "agent_id": "a1"}, headers=admin).json()
                token = httpx.post(
                    f"{a.http}/v1/auth/token", headers={"authorization": f"Bearer {agent['key']}"}
                ).json()["token"]
                stream = connect(f"{b.ws}/v1/stream?token={ingest['key']}", open_timeout=10)
                nudges = connect(f"{b.ws}/v1/agents/a1/nudges?token={token}", open_timeout=10)
                kept = connect(f"{b.ws}/v1/alerts?token={ADMIN}", open_timeout=10)  # not revoked: stays open
                for key in (ingest, agent):
                    assert httpx.delete(f"{a.http}/v1/keys/{key['id']}", headers=admin).status_code == 204
                assert _close_code(stream) == 1008
                assert _close_code(nudges) == 1008
                kept.ping().wait(timeout=5)  # still open and answering
                kept.close()
        finally:
            server.stop()
