"""Webhook models: which events an alert becomes, and an endpoint's event, rule and severity filters."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.delivery.webhooks import WebhookEndpoint, event_types
from monitor.schemas import Alert


def test_event_types_and_filters_unit() -> None:
    """Every alert is alert.raised; an `escalate` alert is also conversation.escalated; filters combine."""
    alert = Alert(
        id="1-0",
        rule="escalate",
        severity="critical",
        conversation_id="c",
        message_id="m",
        agent_id="a",
        audience=["supervisor"],
        nudge="n",
        reason="r",
        created_at=datetime.now(UTC),
    )
    assert event_types(alert) == ["alert.raised", "conversation.escalated"]
    assert event_types(alert.model_copy(update={"rule": "anger"})) == ["alert.raised"]
    endpoint = WebhookEndpoint(id="ep", url="http://x", events=["conversation.escalated"], created_at=alert.created_at,
                               secret="whsec_AAAA", min_severity="warning")  # fmt: skip
    assert endpoint.wants("conversation.escalated", alert)
    assert not endpoint.wants("alert.raised", alert)
    assert not endpoint.wants("conversation.escalated", alert.model_copy(update={"severity": "info"}))
    assert not endpoint.model_copy(update={"rules": ["anger"]}).wants("conversation.escalated", alert)
    assert "whsec_" not in repr(endpoint)
