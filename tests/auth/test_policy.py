"""Who may do what: each role inside and outside its remit."""

from __future__ import annotations

import pytest

from monitor.auth import OPEN_ID, Principal, Role
from tests.auth.conftest import Secured, seed


def test_roles_get_403_outside_their_remit(secured: Secured) -> None:
    """ingest cannot read, supervisors cannot ingest or administer, agents can do neither; admin can do all."""
    alert = seed(secured)
    forbidden = {
        "ingest": [("GET", "/v1/alerts"), ("GET", "/v1/conversations/c1"), ("GET", "/v1/webhooks")],
        "supervisor": [("POST", "/v1/messages"), ("GET", "/v1/webhooks"), ("GET", "/v1/keys")],
        "a1": [("GET", "/v1/alerts"), ("GET", "/v1/conversations"), ("POST", "/v1/messages"), ("GET", "/v1/keys")],
    }
    for who, routes in forbidden.items():
        with secured.client(who) as client:
            for method, path in routes:
                r = client.request(method, path, json={})
                assert r.status_code == 403, (who, method, path, r.text)
                assert r.json()["code"] == "forbidden" and "furious" not in r.text
    with secured.client("supervisor") as client:
        assert [a["id"] for a in client.get("/v1/alerts").json()] == [a["id"] for a in [alert]]
        assert client.get("/v1/conversations/c1").json()["meta"]["customer"]["name"] == "Maria"
        assert client.post(f"/v1/alerts/{alert['id']}/ack", json={"by": "Dana"}).status_code == 200
    with secured.client("admin") as client:
        assert client.get("/v1/alerts").status_code == 200 and client.get("/v1/webhooks").status_code == 200
        assert client.get("/v1/keys").status_code == 200


@pytest.mark.parametrize(
    ("role", "can"),
    [
        ("ingest", {"ingest"}),
        ("supervisor", {"read"}),
        ("agent", set()),
        ("admin", {"ingest", "read", "admin"}),
    ],
)
def test_each_role_has_exactly_its_capabilities(role: Role, can: set[str]) -> None:
    """The capability table: what each role may do, and nothing more."""
    principal = Principal(key_id="key_1", role=role, agent_id="a1" if role == "agent" else None)
    assert {c for c in ("ingest", "read", "admin") if principal.can(c)} == can  # type: ignore[arg-type]


def test_nudges_are_for_the_agent_itself_or_readers() -> None:
    """An agent key reads only its own agent's nudges; supervisors and admins read anyone's; ingest none."""
    agent = Principal(key_id="key_1", role="agent", agent_id="a1")
    assert agent.can_read_nudges("a1") and not agent.can_read_nudges("a2")
    assert Principal(key_id="key_2", role="supervisor").can_read_nudges("a2")
    assert Principal(key_id="key_3", role="admin").can_read_nudges("a2")
    assert not Principal(key_id="key_4", role="ingest").can_read_nudges("a1")
    assert not Principal(key_id="key_5", role="agent").can_read_nudges("a1")  # an agent key without an agent id


def test_only_the_open_principal_escapes_the_rate_limit() -> None:
    """Every key is rate limited; the open-mode principal (no keys, loopback) is not."""
    assert Principal(key_id="key_1", role="ingest").rate_limited
    assert not Principal(key_id=OPEN_ID, role="admin").rate_limited
