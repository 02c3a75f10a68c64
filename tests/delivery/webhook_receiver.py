"""A real webhook receiver that checks every delivery with a signature check written from the Standard
Webhooks specification (not with the code that signs), and helpers to drive a service at it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, free_port, make_settings
from tests.fakes import KeywordScorer

ANGRY = "This is ridiculous and unacceptable, I am furious"


FAST_RETRIES = [0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]


TOLERANCE_S = 5 * 60  # the specification's recommended timestamp tolerance


def spec_verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks: base64 HMAC-SHA256 over ``{id}.{timestamp}.{body}`` with the base64-decoded secret
    (after ``whsec_``); the header holds space-separated ``v1,<sig>`` entries; the timestamp must be recent."""
    msg_id, timestamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
    signature_header = headers.get("webhook-signature")
    if not msg_id or not timestamp or not signature_header:
        return False
    if abs(time.time() - int(timestamp)) > TOLERANCE_S:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest())
    for entry in signature_header.split(" "):
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            return True
    return False


class Receiver:
    """A webhook receiver on a real port. ``status`` is what it answers; ``gate`` (if set) holds each request
    until released; ``secrets`` are what it verifies with. It can be stopped and restarted on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.secrets: list[str] = []
        self.status = 200
        self.gate: threading.Event | None = None
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                if receiver.gate is not None:
                    receiver.gate.wait(timeout=30)
                verified = [s for s in receiver.secrets if spec_verify(s, headers, body)]
                with receiver._lock:
                    receiver.received.append(
                        {"headers": headers, "raw": body, "body": json.loads(body), "verified_by": verified}
                    )
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok" if receiver.status < 300 else b"nope")

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def bodies(self, event_type: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [r["body"] for r in self.received if event_type is None or r["body"]["type"] == event_type]

    def ids(self) -> list[str]:
        with self._lock:
            return [r["headers"]["webhook-id"] for r in self.received]


def wait_for(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll until ``check()`` is truthy; fail with ``what`` after ``timeout`` (never asserts on timing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def start(client: httpx.Client, cid: str, agent: str = "a1") -> None:
    r = client.post("/v1/conversations", json={"conversation_id": cid, "customer": {"id": "u-" + cid, "name": "Maria"},
                                               "agent": {"id": agent, "name": "Sam"}})  # fmt: skip
    assert r.status_code in (200, 201), r.text


def angry(client: httpx.Client, cid: str, mid: str = "m1") -> list[dict[str, Any]]:
    r = client.post("/v1/messages", json={"conversation_id": cid, "message_id": mid, "role": "customer", "text": ANGRY})
    assert r.status_code == 200, r.text
    alerts: list[dict[str, Any]] = r.json()["alerts"]
    return alerts


def create_endpoint(client: httpx.Client, receiver: Receiver, **fields: Any) -> dict[str, Any]:
    r = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["alert.raised"], **fields})
    assert r.status_code == 201, r.text
    endpoint: dict[str, Any] = r.json()
    receiver.secrets.append(endpoint["secret"])
    return endpoint


def serve(redis_url: str, **overrides: Any) -> LiveServer:
    values = {"webhook_retry_schedule_s": FAST_RETRIES, "webhook_poll_s": 0.05, "webhook_timeout_s": 5.0, **overrides}
    return LiveServer(make_settings(redis_url, **values), KeywordScorer())


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    if r.gate is not None:
        r.gate.set()
    r.stop()
