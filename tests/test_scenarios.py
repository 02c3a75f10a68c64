"""The scenario suite: hand-written conversations through the real pipeline and the real trained model.

Each file in ``tests/scenarios/`` says which alerts must fire (per turn, or somewhere) and which must stay
quiet; ``calmwatch replay tests/scenarios`` prints the same run for a person to read.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from monitor.replay import ConversationResult, load_conversations, run_replay
from monitor.rules import load_rule_pack
from monitor.settings import Settings
from tests.conftest import make_settings

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "tests" / "scenarios"
IDS = [c.conversation_id for c in load_conversations(SCENARIOS)]

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def results(redis_url: str) -> dict[str, ConversationResult]:
    """Every scenario replayed once with the committed model (or CALMWATCH_MODEL_PATH) and the default pack."""
    from monitor.scoring import load_scorer

    engine = load_rule_pack([REPO / "rules"])
    scorer = load_scorer("model", Settings().model_path)
    done = asyncio.run(
        run_replay(
            load_conversations(SCENARIOS),
            settings=make_settings(redis_url),
            engine=engine,
            scorer=scorer,
            progress=False,
        )
    )
    return {r.conversation.conversation_id: r for r in done}


@pytest.mark.parametrize("scenario", IDS)
def test_scenario(results: dict[str, ConversationResult], scenario: str) -> None:
    """The scenario raises the alerts it expects, where it expects them, and none it forbids."""
    problems = results[scenario].problems()
    assert not problems, f"{scenario}: " + "; ".join(problems)
