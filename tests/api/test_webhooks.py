"""``/v1/webhooks``: validation, management, the test event and secret rotation."""

from __future__ import annotations

import httpx

from tests.delivery.webhook_receiver import Receiver, create_endpoint, serve


def test_test_event_and_secret_rotation(flushed_redis: str, receiver: Receiver) -> None:
    """POST /test sends a signed webhook.test now and reports the attempt; after a rotation deliveries verify
    with the new secret and, during the grace period, with the old one too."""
    with serve(flushed_redis) as server, httpx.Client(base_url=server.http) as client:
        endpoint = create_endpoint(client, receiver)
        tested = client.post(f"/v1/webhooks/{endpoint['id']}/test").json()
        assert tested["event_type"] == "webhook.test" and tested["status"] == "succeeded"
        assert tested["attempts"][0]["status_code"] == 200
        assert receiver.bodies("webhook.test")[0]["data"]["endpoint_id"] == endpoint["id"]
        rotated = client.post(f"/v1/webhooks/{endpoint['id']}/rotate-secret").json()
        assert rotated["secret"] != endpoint["secret"] and rotated["secret"].startswith("whsec_")
        receiver.secrets.append(rotated["secret"])
        client.post(f"/v1/webhooks/{endpoint['id']}/test")
        assert receiver.received[-1]["verified_by"] == [endpoint["secret"], rotated["secret"]]
        receiver.status = 500
        failing = client.post(f"/v1/webhooks/{endpoint['id']}/test").json()
        assert failing["status"] == "failed" and failing["attempts"][0]["error"] == "HTTP 500"


def test_webhook_api_validates_and_manages_endpoints(flushed_redis: str, receiver: Receiver) -> None:
    """Bad URLs and unknown events are 422; PATCH changes fields; DELETE removes the endpoint (404 after)."""
    with serve(flushed_redis) as server, httpx.Client(base_url=server.http) as client:
        assert client.post("/v1/webhooks", json={"url": "not a url", "events": ["alert.raised"]}).status_code == 422
        assert client.post("/v1/webhooks", json={"url": receiver.url, "events": ["alert.exploded"]}).status_code == 422
        assert client.post("/v1/webhooks", json={"url": receiver.url, "events": []}).status_code == 422
        endpoint = create_endpoint(client, receiver)
        url = f"/v1/webhooks/{endpoint['id']}"
        patched = client.patch(url, json={"events": ["conversation.escalated"], "min_severity": "critical"}).json()
        assert patched["events"] == ["conversation.escalated"] and patched["min_severity"] == "critical"
        assert client.patch(url, json={"url": None}).status_code == 422
        assert client.delete(url).status_code == 204
        assert client.get(url).status_code == 404
        assert client.delete(url).status_code == 404
