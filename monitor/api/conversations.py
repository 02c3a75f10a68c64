"""``/v1/conversations`` and ``/v1/messages``: what connectors send over REST, and what supervisors read back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from monitor.api.deps import runtime
from monitor.api.errors import ErrorBody
from monitor.auth import require, require_ingest
from monitor.errors import UnknownConversationError
from monitor.ingest import ConversationEnd
from monitor.runtime import Runtime
from monitor.schemas import (
    Alert,
    ChatMessage,
    ConversationMeta,
    ConversationStart,
    ScoredReply,
    Scores,
    TurnRecord,
)

router = APIRouter(prefix="/v1", tags=["conversations"])
Rt = Annotated[Runtime, Depends(runtime)]
_ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorBody, "description": "Unknown conversation"},
    413: {"model": ErrorBody, "description": "Body too large"},
    422: {"model": ErrorBody, "description": "Malformed JSON or invalid fields"},
    503: {"model": ErrorBody, "description": "Scoring queue full; retry shortly"},
    401: {"model": ErrorBody, "description": "No valid API key or token"},
    403: {"model": ErrorBody, "description": "The key's role may not do this"},
}
_INGEST = [Depends(require_ingest)]  # ingest (or admin) keys, within their rate limit (429 + Retry-After)
_READ = [Depends(require("read"))]  # supervisor (or admin) keys


@router.post(
    "/conversations",
    status_code=201,
    response_model=ConversationMeta,
    responses={**_ERRORS, 200: {"model": ConversationMeta, "description": "Started already: the stored metadata"}},
    dependencies=_INGEST,
)
async def start_conversation(event: ConversationStart, rt: Rt, response: Response) -> ConversationMeta:
    """Start watching a conversation. Starting it again returns the stored metadata with 200."""
    meta, created = await rt.pipeline.start_conversation(event)
    if not created:
        response.status_code = 200
    return meta


@router.post(
    "/conversations/{conversation_id}/end", response_model=ConversationMeta, responses=_ERRORS, dependencies=_INGEST
)
async def end_conversation(conversation_id: str, rt: Rt) -> ConversationMeta:
    """Take the conversation off the live board; its transcript and alerts stay readable until they expire."""
    return await rt.pipeline.end_conversation(ConversationEnd(conversation_id=conversation_id))


_ENDED: dict[int | str, dict[str, object]] = {
    409: {"model": ErrorBody, "description": "The conversation has ended (`conversation_ended`)"}
}


@router.post("/messages", response_model=ScoredReply, responses={**_ERRORS, **_ENDED}, dependencies=_INGEST)
async def post_message(message: ChatMessage, rt: Rt) -> ScoredReply:
    """Score one turn and run the rules. Re-sending the same ``message_id`` returns the same answer."""
    return await rt.pipeline.handle_message(message)


class TurnView(BaseModel):
    message_id: str
    role: str
    text: str
    sent_at: datetime
    scores: Scores
    emotions: dict[str, float]


class ConversationDetail(BaseModel):
    meta: ConversationMeta
    risk: float | None
    turns: list[TurnView]
    alerts: list[Alert]


class BoardRow(BaseModel):
    meta: ConversationMeta
    risk: float
    turns: int
    last_turn_at: datetime | None
    customer_scores: list[Scores]  # the customer's recent turns, oldest first: the board's sparklines


def _view(turn: TurnRecord) -> TurnView:
    return TurnView(
        message_id=turn.message_id,
        role=turn.role,
        text=turn.text,
        sent_at=turn.sent_at,
        scores=turn.wire_scores(),
        emotions=turn.scores.emotions if turn.scores is not None else {},
    )


@router.get(
    "/conversations/{conversation_id}", response_model=ConversationDetail, responses=_ERRORS, dependencies=_READ
)
async def get_conversation(conversation_id: str, rt: Rt) -> ConversationDetail:
    """Metadata, every stored turn with its scores, and the alerts raised in it."""
    meta = await rt.store.meta(conversation_id)
    if meta is None:
        raise UnknownConversationError(conversation_id)
    turns = await rt.store.turns(conversation_id)
    alerts = await rt.alerts.get_many(await rt.store.alert_ids(conversation_id))
    risk = await rt.store.risk(conversation_id)
    return ConversationDetail(meta=meta, risk=risk, turns=[_view(t) for t in turns], alerts=alerts)


@router.get("/conversations", response_model=list[BoardRow], responses=_ERRORS, dependencies=_READ)
async def list_conversations(rt: Rt, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[BoardRow]:
    """The supervisor board: active (not ended) conversations, riskiest first (risk: the rules' view of recent
    turns)."""
    return [
        BoardRow(
            meta=entry.meta,
            risk=entry.risk,
            turns=entry.turn_count,
            last_turn_at=entry.recent[-1].sent_at if entry.recent else None,
            customer_scores=[t.wire_scores() for t in entry.recent if t.role == "customer"],
        )
        for entry in await rt.store.board(limit=limit, recent=rt.settings.turn_window)
    ]
