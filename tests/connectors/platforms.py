"""How each platform signs its webhooks, written from the platforms' documentation (not with the connectors'
code), and the sample payloads in ``fixtures/``."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return copy.deepcopy(data)


def twilio_form() -> list[tuple[str, str]]:
    return parse_qsl((FIXTURES / "twilio_on_message_added.txt").read_text().strip(), keep_blank_values=True)


def chatwoot_headers(secret: str, body: bytes, *, at: float | None = None, delivery: str = "") -> dict[str, str]:
    """Chatwoot: ``sha256=`` + hex HMAC-SHA256 over ``"{timestamp}.{body}"``."""
    timestamp = str(int(at if at is not None else time.time()))
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {
        "content-type": "application/json",
        "X-Chatwoot-Timestamp": timestamp,
        "X-Chatwoot-Signature": f"sha256={digest}",
    }
    if delivery:
        headers["X-Chatwoot-Delivery"] = delivery
    return headers


def slack_headers(secret: str, body: bytes, *, at: float | None = None) -> dict[str, str]:
    """Slack: ``v0=`` + hex HMAC-SHA256 over ``"v0:{timestamp}:{body}"``."""
    timestamp = str(int(at if at is not None else time.time()))
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "content-type": "application/json",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
    }


def intercom_headers(secret: str, body: bytes) -> dict[str, str]:
    """Intercom: ``sha1=`` + hex HMAC-SHA1 of the body with the client secret."""
    digest = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return {"content-type": "application/json", "X-Hub-Signature": f"sha1={digest}"}


def twilio_headers(token: str, url: str, form: list[tuple[str, str]]) -> dict[str, str]:
    """Twilio: base64 HMAC-SHA1 over the URL followed by each field's name and value, sorted by name."""
    data = url + "".join(f"{k}{v}" for k, v in sorted(form))
    signature = base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()
    return {"content-type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}


def zendesk_headers(secret: str) -> dict[str, str]:
    """Sunshine Conversations: the webhook's secret in ``X-API-Key``."""
    return {"content-type": "application/json", "X-API-Key": secret}


def dumps(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()
