"""Issue 20, items 9-11: hostile but small input, sent to a real service, is answered with a documented error
code, and never silences the connection it came on."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.faults.processes import PEOPLE, Service

HUGE_INT = "1" + "0" * 5000  # past Python's 4,300-digit limit on int parsing
DEEP = "[" * 20_000 + "]" * 20_000  # past the JSON parser's recursion limit, inside the 64 KB frame limit
OUT_OF_RANGE = ["18446744073709551616", "1-99999999999999999999999", "99999999999999999999999-1"]


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    with tempfile.TemporaryDirectory(prefix="cw-", dir="/tmp") as tmp, Service(Path(tmp)) as running:
        httpx.post(f"{running.http}/v1/conversations", json={"conversation_id": "c1", **PEOPLE}).raise_for_status()
        yield running


def _ask(ws: ClientConnection, frame: str) -> dict[str, Any]:
    ws.send(frame)
    answer: dict[str, Any] = json.loads(ws.recv(timeout=10))
    return answer


def _still_answers(ws: ClientConnection, message_id: str) -> None:
    """The connection still scores a valid message after the bad frame."""
    good = {"type": "message", "conversation_id": "c1", "message_id": message_id, "role": "customer", "text": "hi"}
    assert _ask(ws, json.dumps(good))["type"] == "scored"


@pytest.mark.slow
@pytest.mark.parametrize(
    "field, value",
    [("message_id", "\ud800"), ("text", "hello \udfff there"), ("conversation_id", "c\ud83d")],
)
def test_lone_surrogates_are_invalid_events_and_the_stream_keeps_answering(
    service: Service, field: str, value: str
) -> None:
    """A lone surrogate in any field is answered invalid_event (encodable), and the same stream answers next."""
    event = {"type": "message", "conversation_id": "c1", "message_id": "m-s", "role": "customer", "text": "hi"}
    frame = json.dumps({**event, field: value})  # ensure_ascii: the surrogate travels as a \\ud800 escape
    with connect(f"{service.ws}/v1/stream", open_timeout=10) as ws:
        answer = _ask(ws, frame)
        assert answer["type"] == "error" and answer["code"] == "invalid_event", answer
        _still_answers(ws, f"ok-{field}")
    rest = httpx.post(
        f"{service.http}/v1/messages", content=frame, headers={"content-type": "application/json"}, timeout=10
    )
    assert rest.status_code == 422 and rest.json()["code"] in {"invalid_event", "unknown_field"}, rest.text


@pytest.mark.slow
@pytest.mark.parametrize("since", OUT_OF_RANGE)
def test_out_of_range_cursors_are_refused_as_documented(service: Service, since: str) -> None:
    """A cursor outside Redis's stream-id range is 422 invalid_cursor over REST and close 1008 on a feed."""
    answer = httpx.get(f"{service.http}/v1/alerts", params={"since": since}, timeout=10)
    assert answer.status_code == 422 and answer.json()["code"] == "invalid_cursor", answer.text
    for path in ("/v1/alerts", "/v1/agents/a1/nudges"):
        with connect(f"{service.ws}{path}?since={since}", open_timeout=10) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


@pytest.mark.slow
@pytest.mark.parametrize(
    "frame",
    [
        '{"type": "message", "conversation_id": "c1", "message_id": "m-h", "role": "customer", "text": "hi", '
        f'"sent_at": {HUGE_INT}}}',
        f'{{"type": "message", "deep": {DEEP}}}',
        DEEP,
    ],
    ids=["huge-int", "deep-in-object", "deep-array"],
)
def test_huge_numbers_and_deep_nesting_are_bad_json_not_internal_errors(service: Service, frame: str) -> None:
    """Frames the JSON parser gives up on are answered invalid_json over the stream and REST, never a 500."""
    with connect(f"{service.ws}/v1/stream", open_timeout=10, max_size=2**22) as ws:
        answer = _ask(ws, frame)
        assert answer["type"] == "error" and answer["code"] == "invalid_json", answer
        _still_answers(ws, f"ok-{len(frame)}")
    rest = httpx.post(
        f"{service.http}/v1/messages", content=frame, headers={"content-type": "application/json"}, timeout=10
    )
    assert rest.status_code == 422 and rest.json()["code"] == "invalid_json", rest.text


class _Socket:
    """Records what is sent; like a real socket, text that is not UTF-8 cannot be sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_json(self, data: dict[str, Any]) -> None:
        json.dumps(data, ensure_ascii=False).encode("utf-8")  # raises UnicodeEncodeError for a lone surrogate
        self.sent.append(data)


async def test_an_answer_that_cannot_be_encoded_is_replaced_not_fatal() -> None:
    """An unencodable answer is sent as internal_error instead, and the sender goes on to the next answer."""
    from monitor.api.stream import _send_answer

    socket = _Socket()
    await _send_answer(socket, {"type": "error", "code": "invalid_event", "message_id": "\ud800"})  # type: ignore[arg-type]
    await _send_answer(socket, {"type": "scored", "message_id": "m1"})  # type: ignore[arg-type]
    assert [a["code"] if a["type"] == "error" else a["type"] for a in socket.sent] == ["internal_error", "scored"]
