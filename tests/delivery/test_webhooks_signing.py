"""Signed per the Standard Webhooks specification, as a receiver checks it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import httpx

from monitor.delivery.webhooks.signing import new_secret, payload, sign
from tests.delivery.webhook_receiver import Receiver, angry, create_endpoint, serve, spec_verify, start, wait_for


def test_delivery_is_signed_per_spec_and_shaped_as_standard_webhooks(flushed_redis: str, receiver: Receiver) -> None:
    """An alert reaches the receiver with webhook-id/timestamp/signature headers that verify, and a
    {type, timestamp, data} body carrying the alert; the secret is never shown again after creation."""
    with serve(flushed_redis) as server, httpx.Client(base_url=server.http) as client:
        endpoint = create_endpoint(client, receiver, description="ticketing")
        assert endpoint["secret"].startswith("whsec_")
        start(client, "c1")
        [alert] = [a for a in angry(client, "c1") if a["rule"] == "anger"]
        wait_for(lambda: receiver.bodies("alert.raised"), what="the delivery")
        got = receiver.received[0]
        assert got["verified_by"] == [endpoint["secret"]]
        assert got["headers"]["content-type"] == "application/json"
        assert got["body"]["type"] == "alert.raised"
        assert got["body"]["data"] == alert
        assert datetime.fromisoformat(got["body"]["timestamp"]) == datetime.fromisoformat(alert["created_at"])
        listed = client.get("/v1/webhooks").json()
        assert [e["id"] for e in listed] == [endpoint["id"]] and "secret" not in listed[0]
        assert "whsec_" not in client.get(f"/v1/webhooks/{endpoint['id']}").text
        deliveries = wait_for(
            lambda: [d for d in client.get(f"/v1/webhooks/{endpoint['id']}/deliveries").json() if d["attempts"]],
            what="the delivery log",
        )
        assert deliveries[0]["id"] == got["headers"]["webhook-id"]
        assert deliveries[0]["status"] == "succeeded"
        attempt = deliveries[0]["attempts"][0]
        assert attempt["status_code"] == 200 and attempt["error"] is None and attempt["latency_ms"] >= 0


def test_two_secrets_sign_twice_and_each_verifies() -> None:
    """During a rotation's grace period the header carries one v1 signature per secret, each valid on its own
    by the specification's check; the body is the compact {type, timestamp, data} JSON."""
    old, new = new_secret(), new_secret()
    assert old.startswith("whsec_") and old != new
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    body = payload("alert.raised", at, {"id": "1-0"})
    assert json.loads(body) == {"type": "alert.raised", "timestamp": at.isoformat(), "data": {"id": "1-0"}}
    assert b" " not in body
    timestamp = int(time.time())
    header = sign([new, old], "msg_x", timestamp, body)
    assert len(header.split(" ")) == 2 and all(part.startswith("v1,") for part in header.split(" "))
    headers = {"webhook-id": "msg_x", "webhook-timestamp": str(timestamp), "webhook-signature": header}
    assert spec_verify(new, headers, body) and spec_verify(old, headers, body)
    assert not spec_verify(new_secret(), headers, body)
    assert not spec_verify(new, {**headers, "webhook-id": "msg_y"}, body)
