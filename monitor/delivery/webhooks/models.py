"""What webhooks are made of: endpoints (with their filters and health), deliveries and their attempts, and
which events an alert becomes. Plain pydantic models and pure functions; Redis and HTTP are elsewhere."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from monitor.schemas import SEVERITY_RANK, Alert, Severity

EventType = Literal["alert.raised", "conversation.escalated", "alert.feedback"]
#: Sent when an agent or supervisor marks an alert helpful or a false alarm (``data``: the alert and the verdict).
FEEDBACK_EVENT = "alert.feedback"
TEST_EVENT = "webhook.test"
#: The rule whose alerts are also sent as ``conversation.escalated``.
ESCALATION_RULE = "escalate"


class WebhookEndpoint(BaseModel):
    """An endpoint as stored in Redis, secrets included (they are needed to sign)."""

    id: str
    url: str
    events: list[EventType]
    description: str = ""
    rules: list[str] | None = None
    min_severity: Severity | None = None
    enabled: bool = True
    disabled_reason: str | None = None
    created_at: datetime
    secret: str = Field(repr=False)
    previous_secret: str | None = Field(default=None, repr=False)
    previous_secret_until: datetime | None = None
    failing_since: datetime | None = None
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None

    def wants(self, event_type: str, alert: Alert) -> bool:
        """The endpoint's event, rule and severity filters."""
        if event_type not in self.events:
            return False
        if self.rules is not None and alert.rule not in self.rules:
            return False
        return self.min_severity is None or SEVERITY_RANK[alert.severity] >= SEVERITY_RANK[self.min_severity]

    def signing_secrets(self, now: datetime) -> list[str]:
        if self.previous_secret and self.previous_secret_until and now < self.previous_secret_until:
            return [self.secret, self.previous_secret]
        return [self.secret]


def event_types(alert: Alert) -> list[str]:
    """Every alert is ``alert.raised``; an escalation is also ``conversation.escalated``."""
    return ["alert.raised", *(["conversation.escalated"] if alert.rule == ESCALATION_RULE else [])]


def delivery_id_for(event_type: str, alert_id: str) -> str:
    """Deterministic, so re-reading an alert after a crash cannot queue it twice; the same across endpoints."""
    return f"msg_{event_type.replace('.', '-')}_{alert_id}"


DeliveryStatus = Literal["pending", "succeeded", "failed"]


class Attempt(BaseModel):
    at: datetime
    status_code: int | None = None
    latency_ms: float
    error: str | None = None
    response: str | None = None  # the first KiB of the receiver's answer, for debugging


class Delivery(BaseModel):
    """One message to one endpoint and the state of its attempts; ``id`` is the ``webhook-id``."""

    id: str
    endpoint_id: str
    event_type: str
    alert_id: str | None = None
    created_at: datetime
    status: DeliveryStatus = "pending"
    attempt_count: int = 0
    retries_used: int = 0  # position in the retry schedule (reset by a re-send)
    retry: bool = True  # test deliveries are tried once
    next_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None


class DeliveryView(Delivery):
    attempts: list[Attempt] = []
