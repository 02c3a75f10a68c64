"""Who may do what: each role inside and outside its remit."""

from __future__ import annotations

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
