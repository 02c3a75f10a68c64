"""Done when (issue 21): a chat with a card, an email address, a phone number and an order number shows the first
three as placeholders everywhere (API, webhooks, Redis) and the order number intact."""

from __future__ import annotations

import httpx

from tests.delivery.webhook_receiver import Receiver, create_endpoint, serve, start, wait_for
from tests.privacy.redis_text import stored_text

CARD, EMAIL, PHONE, ORDER = "4111 1111 1111 1111", "ana.lopez@example.com", "+44 20 7946 0958", "#2025550143"
TURN = f"This is ridiculous, I am furious: order {ORDER}, charged twice on {CARD}. Mail {EMAIL} or call {PHONE}"


def test_personal_data_is_redacted_everywhere_and_the_order_number_kept(flushed_redis: str, receiver: Receiver) -> None:
    """The stored turn, the API, the webhook bodies and every Redis key hold placeholders, never the data."""
    with serve(flushed_redis) as server, httpx.Client(base_url=server.http) as client:
        create_endpoint(client, receiver)
        start(client, "c1")
        r = client.post("/v1/messages", json={"conversation_id": "c1", "message_id": "m1", "role": "customer",
                                              "text": TURN})  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["scores"]["anger"] > 0.5 and r.json()["alerts"], "the original text was scored"
        turn = client.get("/v1/conversations/c1").json()["turns"][0]
        assert turn["text"] == (
            f"This is ridiculous, I am furious: order {ORDER}, charged twice on [CARD]. Mail [EMAIL] or call [PHONE]"
        )
        wait_for(lambda: receiver.bodies("alert.raised"), what="the alert's webhook")
        stored = stored_text(flushed_redis)
    sent = b"\n".join(r["raw"] for r in receiver.received).decode()
    for value in (CARD, EMAIL, PHONE, CARD.replace(" ", ""), "7946 0958"):
        assert value not in stored, f"{value!r} is stored in Redis"
        assert value not in sent, f"{value!r} was sent to a webhook"
    assert f"order {ORDER}" in stored
