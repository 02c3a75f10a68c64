"""The Standard Webhooks message: secrets, the body (encoded once, sent unchanged on every attempt) and the
``webhook-signature`` header, computed by the ``standardwebhooks`` package.

The signature is ``v1,`` + base64(HMAC-SHA256(secret, f"{webhook-id}.{webhook-timestamp}.{body}")); secrets are
``whsec_`` + base64 of 32 random bytes. After a rotation the previous secret also signs (two space-separated
signatures) for ``webhook_secret_grace_s``.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def payload(event_type: str, timestamp: datetime, data: dict[str, Any]) -> bytes:
    """The Standard Webhooks body: ``{"type", "timestamp", "data"}``, encoded once and sent unchanged."""
    return json.dumps(
        {"type": event_type, "timestamp": timestamp.isoformat(), "data": data}, separators=(",", ":")
    ).encode()


def sign(secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: one ``v1,<base64>`` per secret, space-separated."""
    at = datetime.fromtimestamp(timestamp, UTC)
    return " ".join(Webhook(s).sign(msg_id, at, body.decode()) for s in secrets_)
