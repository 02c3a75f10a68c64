"""The ingest stage: raw bytes from a connector become typed events, or an :class:`IngestError` naming the problem.

Used by both the REST routes and the ``/v1/stream`` websocket, so the two accept exactly the same events and
answer bad ones with the same stable error codes (documented in docs/api.md):

``invalid_encoding``  the frame or body is not UTF-8
``invalid_json``      not parseable as JSON, or not a JSON object
``unknown_type``      a stream event whose ``type`` is missing or not one we know
``invalid_event``     a field is missing, of the wrong type, or out of range (the detail names each one)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from monitor.errors import IngestError
from monitor.schemas import ChatMessage, ConversationStart, _Strict


class ConversationEnd(_Strict):
    """``conversation.end`` stream event and ``POST /v1/conversations/{id}/end``."""

    conversation_id: str


StreamEvent = ConversationStart | ChatMessage | ConversationEnd
_EVENT_TYPES: dict[str, type[BaseModel]] = {
    "conversation.start": ConversationStart,
    "message": ChatMessage,
    "conversation.end": ConversationEnd,
}


def describe_errors(errors: Sequence[Mapping[str, Any]], *, skip: int = 0) -> str:
    """One readable line per problem: ``text: String should have at most 8000 characters``. ``skip`` drops the
    first parts of each location (FastAPI's start with ``body``, which says nothing to the sender)."""
    parts = []
    for item in errors:
        where = ".".join(str(p) for p in item["loc"][skip:]) or "body"
        message = "unknown field" if item.get("type") == "extra_forbidden" else item["msg"]
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def describe_validation_error(error: ValidationError) -> str:
    """:func:`describe_errors` of a pydantic validation error."""
    return describe_errors(error.errors(include_url=False))


def decode_json_object(raw: bytes | str) -> dict[str, Any]:
    """Bytes or text to a JSON object, with the error codes above."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise IngestError("invalid_encoding", f"not valid UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise IngestError(
            "invalid_json", f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise IngestError("invalid_json", "JSON nested too deeply") from None
    except ValueError:  # an integer with more digits than Python parses (sys.get_int_max_str_digits)
        raise IngestError("invalid_json", "malformed JSON: a number with too many digits") from None
    if not isinstance(data, dict):
        raise IngestError("invalid_json", f"expected a JSON object, got {type(data).__name__}")
    return data


def _echoable_message_id(data: Mapping[str, Any]) -> str | None:
    """The event's ``message_id`` to repeat in an error answer: only text that can be sent back as UTF-8
    (a lone surrogate cannot, and must not cost the connection its answer)."""
    message_id = data.get("message_id")
    if not isinstance(message_id, str) or len(message_id) > 200:
        return None
    try:
        message_id.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return message_id


def validate(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """Validate ``data`` as ``model``; a failure names every bad field and carries the message id if present."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise IngestError(
            "invalid_event", describe_validation_error(exc), message_id=_echoable_message_id(data)
        ) from None


def parse_stream_event(raw: bytes | str) -> StreamEvent:
    """A websocket frame to a typed event; the ``type`` field picks the event."""
    data = decode_json_object(raw)
    event_type = data.pop("type", None)
    model = _EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
    if model is None:
        known = ", ".join(_EVENT_TYPES)
        raise IngestError(
            "unknown_type",
            f"event type {event_type!r} is not one of: {known}",
            message_id=_echoable_message_id(data),
        )
    event: StreamEvent = validate(model, data)
    return event
