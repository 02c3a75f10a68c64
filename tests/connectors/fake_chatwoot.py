"""A fake Chatwoot API on a real port: it records the private notes Calmwatch posts and serves conversations'
messages for reconciliation, in the shapes Chatwoot's API uses (``payload`` lists, integer message types)."""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import free_port

_MESSAGES = re.compile(r"^/api/v1/accounts/(\d+)/conversations/(\d+)/messages$")
TOKEN = "cw-agent-token-of-our-own"


class FakeChatwoot:
    def __init__(self) -> None:
        self.port = free_port()
        self.notes: list[dict[str, Any]] = []  # every accepted note: account, conversation, body, id
        self.messages: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self.fail_next = 0  # answer this many note posts with 500 (after keeping the note, if keep_failed)
        self.keep_failed = False
        self.unauthorized = 0
        self._next_id = 50_000
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_message(self, account: str, conversation: str, message: dict[str, Any]) -> None:
        with self._lock:
            self.messages[(account, conversation)].append(message)

    def start(self) -> FakeChatwoot:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self) -> tuple[str, str] | None:
                if self.headers.get("api_access_token") != TOKEN:
                    with fake._lock:
                        fake.unauthorized += 1
                    self._answer(401, {"error": "Invalid Access Token"})
                    return None
                match = _MESSAGES.match(self.path)
                if match is None:
                    self._answer(404, {"error": "not found"})
                    return None
                return match.group(1), match.group(2)

            def do_GET(self) -> None:
                where = self._route()
                if where is not None:
                    with fake._lock:
                        payload = list(fake.messages[where])
                    self._answer(200, {"meta": {"labels": [], "additional_attributes": {}}, "payload": payload})

            def do_POST(self) -> None:
                where = self._route()
                if where is None:
                    return
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
                with fake._lock:
                    fake._next_id += 1
                    message = {
                        "id": fake._next_id,
                        "content": body.get("content"),
                        "account_id": int(where[0]),
                        "conversation_id": int(where[1]),
                        "message_type": 1 if body.get("message_type") == "outgoing" else 0,
                        "private": bool(body.get("private")),
                        "content_type": "text",
                        "created_at": 1764494000,
                        "sender": {"id": 99, "name": "Calmwatch", "type": "user"},
                    }
                    failing = fake.fail_next > 0
                    if failing:
                        fake.fail_next -= 1
                    if not failing or fake.keep_failed:
                        fake.notes.append(
                            {"account": where[0], "conversation": where[1], "body": body, "id": message["id"]}
                        )
                        fake.messages[where].append(message)
                if failing:
                    self._answer(500, {"error": "boom"})
                else:
                    self._answer(200, message)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture
def fake_chatwoot() -> Iterator[FakeChatwoot]:
    fake = FakeChatwoot().start()
    try:
        yield fake
    finally:
        fake.stop()
