"""``WS /v1/stream``: a connector's firehose. Events in, one answer per event out, in the order received.

Events are processed concurrently (so turns of different conversations share scorer batches) but answered in
order: each event becomes a task, and a sender awaits the tasks first-in, first-out. Turns of one conversation
stay in order because the pipeline serialises them. At most ``MAX_IN_FLIGHT`` events are processed at once per
connection; an event beyond that is answered ``overloaded`` (in its place in the order) without being
processed, so the connector resends it later. The connection keeps being read meanwhile: a server that stops
reading never reads the client's keepalive pongs either, and the client closes a healthy connection with
1011. Only when ``MAX_QUEUED_ANSWERS`` answers wait to be sent (a client that does not read them) does the
service stop reading, which is TCP backpressure and bounds the memory a connection holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends
from starlette.websockets import WebSocket, WebSocketDisconnect

from monitor.api.deps import closed_when_revoked, ws_runtime
from monitor.api.errors import REDIS_UNAVAILABLE, UNAVAILABLE_DETAIL, UNAVAILABLE_RETRY_AFTER_S
from monitor.auth import Principal, require
from monitor.errors import IngestError, OverloadedError, RateLimitedError
from monitor.ingest import ConversationEnd, StreamEvent, parse_stream_event
from monitor.runtime import Runtime
from monitor.schemas import ChatMessage, ConversationStart

router = APIRouter(prefix="/v1", tags=["stream"])
log = structlog.get_logger("ingest")

MAX_IN_FLIGHT = 256
#: Answers (in processing or ready) waiting to be sent on one connection before it is not read any more.
MAX_QUEUED_ANSWERS = 4096
#: How long a connector is asked to wait before resending an event answered ``overloaded``.
OVERLOADED_RETRY_AFTER_S = 0.5
#: RFC 6455 "Message Too Big".
CLOSE_TOO_BIG = 1009


async def _answer(rt: Runtime, raw: str | bytes, principal: Principal) -> dict[str, Any]:
    event: StreamEvent | None = None
    try:
        event = parse_stream_event(raw)
        try:
            await rt.auth.take(principal)  # the key's ingest rate limit, per event
        except RateLimitedError as exc:
            exc.message_id = getattr(event, "message_id", None)
            raise
        if isinstance(event, ChatMessage):
            reply = await rt.pipeline.handle_message(event)
            return {"type": "scored", **reply.model_dump(mode="json")}
        if isinstance(event, ConversationStart):
            meta, created = await rt.pipeline.start_conversation(event)
            return {
                "type": "conversation.started",
                "conversation_id": meta.conversation_id,
                "created": created,
            }
        assert isinstance(event, ConversationEnd)
        meta = await rt.pipeline.end_conversation(event)
        return {"type": "conversation.ended", "conversation_id": meta.conversation_id}
    except IngestError as exc:
        return _error_answer(rt, exc)
    except REDIS_UNAVAILABLE as exc:  # an outage: the same event may well succeed in a moment
        log.warning("redis unavailable; stream event answered unavailable", error=str(exc))
        unavailable: dict[str, Any] = {"type": "error", "code": "unavailable", "detail": UNAVAILABLE_DETAIL}
        if isinstance(message_id := getattr(event, "message_id", None), str):
            unavailable["message_id"] = message_id
        unavailable["retry_after_s"] = float(UNAVAILABLE_RETRY_AFTER_S)
        return unavailable
    except Exception:  # one bad event must never take the connection (or other connectors) down
        log.exception("unexpected error handling a stream event")
        return {"type": "error", "code": "internal_error", "detail": "the event could not be processed"}


def _error_answer(rt: Runtime, exc: IngestError) -> dict[str, Any]:
    rt.metrics.ingest_errors.labels(code=exc.code).inc()
    error: dict[str, Any] = {"type": "error", "code": exc.code, "detail": exc.detail}
    if exc.message_id:
        error["message_id"] = exc.message_id
    if isinstance(exc, RateLimitedError):
        error["retry_after_s"] = round(exc.retry_after_s, 3)
    elif isinstance(exc, OverloadedError):
        error["retry_after_s"] = OVERLOADED_RETRY_AFTER_S
    return error


def _overloaded_answer(rt: Runtime, raw: str | bytes) -> dict[str, Any]:
    """The answer to an event that arrives while ``MAX_IN_FLIGHT`` are processed: parsed (so a bad one still
    gets its own error, and a good one its message id), not processed."""
    try:
        event = parse_stream_event(raw)
    except IngestError as exc:
        return _error_answer(rt, exc)
    return _error_answer(rt, OverloadedError(message_id=getattr(event, "message_id", None)))


async def _send_answer(websocket: WebSocket, answer: dict[str, Any]) -> None:
    """Send one answer; one that cannot be encoded becomes an ``internal_error`` answer in its place, so no
    event can end the sender (which would leave every later event of the connection unanswered)."""
    try:
        await websocket.send_json(answer)
    except (TypeError, ValueError):  # UnicodeEncodeError is a ValueError
        log.exception("a stream answer could not be encoded", answer_type=answer.get("type"))
        await websocket.send_json(
            {"type": "error", "code": "internal_error", "detail": "the answer to this event could not be encoded"}
        )


@router.websocket("/stream")
async def stream(websocket: WebSocket, principal: Annotated[Principal, Depends(require("ingest"))]) -> None:
    rt = ws_runtime(websocket)
    await websocket.accept()
    pending: asyncio.Queue[asyncio.Future[dict[str, Any]] | None] = asyncio.Queue(maxsize=MAX_QUEUED_ANSWERS)
    processing: set[asyncio.Task[dict[str, Any]]] = set()

    async def send_in_order() -> None:
        while (answer := await pending.get()) is not None:
            await _send_answer(websocket, await answer)

    sender = asyncio.create_task(send_in_order())
    gauge = rt.metrics.websocket_clients.labels(endpoint="stream")
    gauge.inc()
    try:
        async with closed_when_revoked(websocket, rt, principal):
            await _read_events(websocket, rt, principal, pending, processing, sender)
    except (WebSocketDisconnect, RuntimeError):  # RuntimeError: sent to a socket closed meanwhile
        pass
    finally:
        gauge.dec()
        if not sender.done():
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender


async def _read_events(
    websocket: WebSocket,
    rt: Runtime,
    principal: Principal,
    pending: asyncio.Queue[asyncio.Future[dict[str, Any]] | None],
    processing: set[asyncio.Task[dict[str, Any]]],
    sender: asyncio.Task[None],
) -> None:
    """Read events until the client leaves, queueing one answer per event (see the module's docstring)."""
    limit = rt.settings.max_frame_bytes
    loop = asyncio.get_running_loop()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            break
        raw: str | bytes = message.get("text") or message.get("bytes") or b""
        if len(raw) > limit:  # the server's ws_max_size usually closes first; this covers every server
            await pending.put(None)
            await sender
            await websocket.close(code=CLOSE_TOO_BIG, reason=f"frame larger than {limit} bytes")
            return
        answer: asyncio.Future[dict[str, Any]]
        if len(processing) >= MAX_IN_FLIGHT:
            answer = loop.create_future()
            answer.set_result(_overloaded_answer(rt, raw))
        else:
            task = asyncio.create_task(_answer(rt, raw, principal))
            processing.add(task)
            task.add_done_callback(processing.discard)
            answer = task
        await pending.put(answer)
    await pending.put(None)
    await sender
