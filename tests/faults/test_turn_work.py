"""Issue 20, item 6: the work per turn outside the model is bounded: VADER and the rules read only the first
1,000 characters of a turn (the timing budget itself is measured by ``bench/bench_turn_work.py``)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from websockets.sync.client import connect

from bench import bench_turn_work
from monitor.pipeline import RULES_MAX_CHARS
from monitor.scoring.vader import MAX_CHARS, VaderSentiment
from tests.faults.processes import PEOPLE, Service

CALM = ("Thanks for the update on my order, that sounds good to me. " * 40)[:MAX_CHARS]
HOSTILE_TAIL = " YOU IDIOTS!!! THIS IS SHIT, I HATE YOU, I AM FURIOUS 😡😡😡" * 100


def test_vader_reads_only_the_first_thousand_characters() -> None:
    """Whatever follows the first MAX_CHARS characters does not change VADER's score."""
    vader = VaderSentiment()
    assert MAX_CHARS == RULES_MAX_CHARS == 1000
    assert vader.compound(CALM + HOSTILE_TAIL) == vader.compound(CALM) > 0
    assert vader.compound(HOSTILE_TAIL) < 0  # the tail alone would have counted


@pytest.mark.slow
def test_a_long_hostile_tail_is_not_read_by_the_running_service() -> None:
    """A real service scores and judges a turn by its first 1,000 characters: a hostile tail raises nothing."""
    with (
        tempfile.TemporaryDirectory(prefix="cw-", dir="/tmp") as tmp,
        Service(Path(tmp)) as service,
        connect(f"{service.ws}/v1/stream", open_timeout=10) as ws,
    ):
        ws.send(json.dumps({"type": "conversation.start", "conversation_id": "c1", **PEOPLE}))
        assert json.loads(ws.recv(timeout=10))["type"] == "conversation.started"
        for mid, text in (("tail", (CALM + HOSTILE_TAIL)[:8000]), ("head", HOSTILE_TAIL[:8000])):
            ws.send(json.dumps({"type": "message", "conversation_id": "c1", "message_id": mid,
                                "role": "customer", "text": text}))  # fmt: skip
            answer = json.loads(ws.recv(timeout=30))
            if mid == "tail":
                assert answer["scores"]["sentiment"] == VaderSentiment().compound(CALM)
                assert answer["alerts"] == []
            else:  # the same words inside the first 1,000 characters are seen
                assert {a["rule"] for a in answer["alerts"]} & {"vulgarity", "shouting", "anger"}


def test_the_turn_work_benchmark_runs() -> None:
    """bench/bench_turn_work.py times the known shapes and a fuzz and reports; its budget is not asserted here."""
    assert bench_turn_work.main(["--fuzz", "2", "--budget-ms", "1e9"]) == 0
