"""Connectors: the chat platforms support teams already use, plugged in without code of their own.

Each platform's webhook arrives at ``POST /v1/connectors/<platform>`` (``monitor/api/connectors.py``),
authenticated by the platform's own signature rather than a Calmwatch API key. Its connector turns the payload
into Calmwatch's own events (:mod:`monitor.connectors.base`); the route drops re-deliveries and queues the
events, answering at once, and a worker scores them afterwards through the same pipeline as the REST API
(:mod:`monitor.connectors.queue`).

==============  ==========================================================================================
``base``        the connector protocol, the request and delivery shapes, id and time helpers
``signatures``  HMAC, timestamp-window and constant-time comparison helpers
``queue``       dedupe, the connector event stream, the worker that feeds the pipeline
``services``    the configured connectors and background loops of one service process
``chatwoot``    webhooks, private notes back, reconciliation (a package: first class)
``zendesk``     Sunshine Conversations ``conversation:message``
``intercom``    ``conversation.user.replied`` / ``conversation.admin.replied``
``livechat``    ``incoming_event``
``twilio``      Conversations ``onMessageAdded`` (form-encoded)
``slack``       Events API ``message`` (and ``url_verification``)
==============  ==========================================================================================
"""

from monitor.connectors.base import Connector, ConnectorEvent, Delivery, Parsed, Request
from monitor.connectors.queue import ConnectorQueue, ConnectorWorker
from monitor.connectors.services import ConnectorServices, build_connectors

__all__ = [
    "Connector",
    "ConnectorEvent",
    "ConnectorQueue",
    "ConnectorServices",
    "ConnectorWorker",
    "Delivery",
    "Parsed",
    "Request",
    "build_connectors",
]
