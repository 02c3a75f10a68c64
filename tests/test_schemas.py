"""Wire shapes: what a turn the model did not read looks like, and that it cannot pretend to be scored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from monitor.schemas import Scores, TurnRecord, TurnScores

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_an_unscored_turn_has_no_numbers_on_the_wire() -> None:
    """``scored: false`` with nulls, never zeros that would read as "calm"."""
    turn = TurnRecord(
        message_id="m1", role="customer", text="Das ist unverschämt!", sent_at=T0, scores=None, language="de"
    )
    assert turn.wire_scores().model_dump(mode="json") == {
        "anger": None,
        "frustration": None,
        "sentiment": None,
        "scored": False,
        "language": "de",
    }


def test_a_scored_turn_keeps_its_numbers_and_says_so() -> None:
    scores = TurnScores(anger=0.7, frustration=0.4, sentiment=-0.5, emotions={"anger": 0.6})
    turn = TurnRecord(message_id="m1", role="customer", text="grr", sent_at=T0, scores=scores)
    assert turn.wire_scores() == Scores(anger=0.7, frustration=0.4, sentiment=-0.5, scored=True)


def test_turns_stored_before_the_scored_flag_still_load() -> None:
    """A record written by an older version (no ``language``) reads back as scored."""
    raw = {"message_id": "m", "role": "agent", "text": "hi", "sent_at": T0.isoformat(),
           "scores": {"anger": 0.1, "frustration": 0.1, "sentiment": 0.2, "emotions": {}}}  # fmt: skip
    assert TurnRecord.model_validate(raw).wire_scores().scored


@pytest.mark.parametrize(
    "fields",
    [
        {"scored": False, "anger": 0.0, "frustration": 0.0, "sentiment": 0.0},  # numbers on an unscored turn
        {"scored": True, "anger": 0.5},  # a scored turn without all three numbers
    ],
)
def test_scores_refuse_half_scored_shapes(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Scores.model_validate(fields)
