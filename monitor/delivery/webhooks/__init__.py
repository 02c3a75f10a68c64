"""Signed, retried, durable webhooks, following the Standard Webhooks specification.

How an alert becomes a delivery, and why nothing is lost:

1. The dispatcher reads the alert stream (``cw:alerts``) through the consumer group ``webhooks``
   (XREADGROUP). For each alert and each enabled endpoint whose filters match, it writes a delivery record
   (the exact body bytes, fixed once) and puts it on the endpoint's due set *before* any attempt, and only
   then XACKs the alert. A crash in between leaves the alert pending in the group, and it is re-read (by this
   process after a restart, or claimed by another with XAUTOCLAIM); delivery ids are derived from the alert
   id, so re-reading it queues nothing twice.
2. A scheduler claims due deliveries per endpoint (a Lua script that moves them to a lease time, so a crash
   mid-attempt makes them due again) and attempts them with httpx: at most ``webhook_max_in_flight`` in
   flight in the process and ``webhook_endpoint_concurrency`` per endpoint, so a slow or dead endpoint holds
   only its own lane, and the alert pipeline never waits for any of it.
3. Every attempt is signed afresh (``webhook-timestamp`` is the attempt's time, so receivers can refuse old
   replays) but keeps its ``webhook-id`` and body, so receivers deduplicate on ``webhook-id``. A 2xx is
   success; a timeout, a connection error or any other status is retried after the delays of
   ``webhook_retry_schedule_s`` (default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: the last attempt is about
   28 hours after the alert), each with +-20 % jitter so a recovering receiver is not hit by a thundering herd.
   Redirects are not followed. After the last attempt the delivery is ``failed`` and can be re-sent.
4. Verdicts on alerts (``alert.feedback``) take the same path from the feedback log (``cw:{feedback}:log``),
   read by the same consumer group; their delivery ids are derived from the log entry id.
5. An endpoint that has not had a single success for ``webhook_disable_after_s`` (default 5 days) is disabled
   and says why; its queued deliveries wait, and resume when it is re-enabled.

The signature is ``v1,`` + base64(HMAC-SHA256(secret, f"{webhook-id}.{webhook-timestamp}.{body}")), computed by
the ``standardwebhooks`` package; secrets are ``whsec_`` + base64 of 32 random bytes. After a rotation the
previous secret also signs (two space-separated signatures) for ``webhook_secret_grace_s``.

One module per concern:

==============  ==========================================================================================
``models``      endpoints, deliveries, attempts; which events an alert becomes
``signing``     secrets, the body, the ``webhook-signature`` header (Standard Webhooks)
``store``       endpoints and deliveries in Redis (due sets, delivery logs, the enqueue and claim scripts)
``retry``       :func:`next_attempt_at`: the retry schedule with jitter, a pure function
``dispatcher``  alert stream -> queued deliveries -> attempts, health and auto-disable
==============  ==========================================================================================
"""

from monitor.delivery.webhooks.dispatcher import WebhookDispatcher
from monitor.delivery.webhooks.models import (
    TEST_EVENT,
    Attempt,
    Delivery,
    DeliveryView,
    EventType,
    WebhookEndpoint,
    delivery_id_for,
    event_types,
)
from monitor.delivery.webhooks.retry import next_attempt_at
from monitor.delivery.webhooks.signing import new_secret, payload, sign
from monitor.delivery.webhooks.store import WebhookStore

__all__ = [
    "TEST_EVENT",
    "Attempt",
    "Delivery",
    "DeliveryView",
    "EventType",
    "WebhookDispatcher",
    "WebhookEndpoint",
    "WebhookStore",
    "delivery_id_for",
    "event_types",
    "new_secret",
    "next_attempt_at",
    "payload",
    "sign",
]
