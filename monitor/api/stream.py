"""``WS /v1/stream``: a connector's firehose. Events in, one answer per event out, in the order received.

Events are processed concurrently (so turns of different conversations share scorer batches) but answered in
order: each event becomes a task, and a sender awaits the tasks first-in, first-out. Turns of one conversation
stay in order because the pipeline serialises them in the order they enter it, and events enter it in the
order they were read: an event whose rate-limit check came back first still waits for the events read before
it (:class:`_EntryOrder`), so a message never overtakes its conversation's start or an earlier turn. At most
``MAX_IN_FLIGHT`` events are processed at once per connection; an event beyond that is answered ``overloaded``
(in its place in the order) without being processed, so the connector resends it later. The connection keeps
being read meanwhile: a server that stops reading never reads the client's keepalive pongs either, and the
client closes a healthy connection with 1011. Only when ``MAX_QUEUED_ANSWERS`` answers wait to be sent (a
client that does not read them) does the service stop reading, which is TCP backpressure and bounds the memory
a connection holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

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
_T = TypeVar("_T")
log = structlog.get_logger("ingest")

MAX_IN_FLIGHT = 256
#: Answers (in processing or ready) waiting to be sent on one connection before it is not read any more.
MAX_QUEUED_ANSWERS = 4096
#: How long a connector is asked to wait before resending an event answered ``overloaded``.
OVERLOADED_RETRY_AFTER_S = 0.5
#: RFC 6455 "Message Too Big".
CLOSE_TOO_BIG = 1009


class _EntryOrder:
    """Per connection: events enter the pipeline in the order they were read. Each event gets the future of the
    one read before it and its own, set once it has entered the pipeline (or will not: an error before)."""

    def __init__(self) -> None:
        self._last: asyncio.Future[None] | None = None

    def next(self) -> tuple[asyncio.Future[None] | None, asyncio.Future[None]]:
        previous, mine = self._last, asyncio.get_running_loop().create_future()
        self._last = mine
        return previous, mine


def _entered(previous: asyncio.Future[None] | None, mine: asyncio.Future[None]) -> None:
    """Let the next event in once the previous one is in (at once if it is)."""
    if mine.done():
        return
    if previous is None or previous.done():
        mine.set_result(None)
    else:
        previous.add_done_callback(lambda _: None if mine.done() else mine.set_result(None))


async def _in_order(
    previous: asyncio.Future[None] | None, mine: asyncio.Future[None], work: Coroutine[Any, Any, _T]
) -> _T:
    """Run ``work`` once the event read before has entered the pipeline, and let the next one in as soon as
    ``work`` has taken its place there (its first step runs up to the conversation's lock, which is FIFO)."""
    if previous is not None:
        await previous
    task = asyncio.ensure_future(work)
    await asyncio.sleep(0)
    _entered(previous, mine)
    return await task


async def _answer(
    rt: Runtime, raw: str | bytes, principal: Principal, order: tuple[asyncio.Future[None] | None, asyncio.Future[None]]
) -> dict[str, Any]:
    event: StreamEvent | None = None
    try:
        event = parse_stream_event(raw)
        try:
            await rt.auth.take(principal)  # the key's ingest rate limit, per event
        except RateLimitedError as exc:
            exc.message_id = getattr(event, "message_id", None)
            raise
        if isinstance(event, ChatMessage):
            reply = await _in_order(*order, rt.pipeline.handle_message(event))
            return {"type": "scored", **reply.model_dump(mode="json")}
        if isinstance(event, ConversationStart):
            meta, created = await _in_order(*order, rt.pipeline.start_conversation(event))
            return {
                "type": "conversation.started",
                "conversation_id": meta.conversation_id,
                "created": created,
            }
        assert isinstance(event, ConversationEnd)
        meta = await _in_order(*order, rt.pipeline.end_conversation(event))
        return {"type": "conversation.ended", "conversation_id": meta.conversation_id}
    except IngestError as exc:
        if exc.message_id is None:  # e.g. the scorer's queue is full: the connector must know which turn to resend
            exc.message_id = getattr(event, "message_id", None)
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
    finally:
        _entered(*order)


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
    order = _EntryOrder()
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
            task = asyncio.create_task(_answer(rt, raw, principal, order.next()))
            processing.add(task)
            task.add_done_callback(processing.discard)
            answer = task
        await pending.put(answer)
    await pending.put(None)
    await sender
