"""``/v1/keys`` and ``/v1/auth``: an admin manages keys over the API."""

from __future__ import annotations

from tests.auth.conftest import Secured, ws_refused


def test_admin_api_creates_agent_keys_that_see_only_their_agent(secured: Secured) -> None:
    """An admin makes an agent key over the API (shown once); it reads its agent's nudges and nothing else."""
    with secured.client("admin") as admin:
        created = admin.post("/v1/keys", json={"role": "agent", "agent_id": "a7", "name": "Sam's sidebar"}).json()
        assert created["key"].startswith("cwk_") and created["agent_id"] == "a7"
        assert admin.post("/v1/keys", json={"role": "agent"}).status_code == 422
        assert admin.post("/v1/keys", json={"role": "emperor"}).status_code == 422
    assert not ws_refused(f"{secured.server.ws}/v1/agents/a7/nudges?token={created['key']}")
    assert ws_refused(f"{secured.server.ws}/v1/agents/a1/nudges?token={created['key']}")
