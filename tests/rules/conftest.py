"""Shared by the rule tests: the default pack, hand-built snapshots with explicit scores, and packs
written to a temporary directory."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.errors import RulePackError
from monitor.rules import RuleEngine, load_rule_pack
from monitor.schemas import (
    AlertCandidate,
    ConversationMeta,
    ConversationSnapshot,
    Party,
    TurnRecord,
    TurnScores,
)
from tests.paths import REPO_ROOT

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


Turn = tuple  # (role, text) or (role, text, anger, frustration) or (..., sentiment); (role, text, None): unscored


@pytest.fixture(scope="module")
def engine() -> RuleEngine:
    return load_rule_pack([REPO_ROOT / "rules"])


def snap(turns: list[Turn], customer: str = "Zoë Martin", agent: str = "Sam Lee") -> ConversationSnapshot:
    records = []
    for i, turn in enumerate(turns):
        role, text, *nums = turn
        anger = nums[0] if len(nums) > 0 else 0.05
        frustration = nums[1] if len(nums) > 1 else 0.05
        sentiment = nums[2] if len(nums) > 2 else 0.0
        scores = (
            None if nums and nums[0] is None else TurnScores(anger=anger, frustration=frustration, sentiment=sentiment)
        )
        records.append(
            TurnRecord(message_id=f"m{i}", role=role, text=text, sent_at=T0 + timedelta(seconds=30 * i), scores=scores)
        )
    meta = ConversationMeta(
        conversation_id="c1",
        customer=Party(id="cust", name=customer),
        agent=Party(id="agent", name=agent),
        started_at=T0,
    )
    return ConversationSnapshot(meta=meta, turns=records)


def fired(engine: RuleEngine, turns: list[Turn], **names: str) -> dict[str, AlertCandidate]:
    return {c.rule: c for c in engine.evaluate(snap(turns, **names))}


DEFAULT = REPO_ROOT / "rules" / "default.yaml"


MINIMAL = """
version: 1
rules:
  - id: anger
    watches: customer
    severity: warning
    audience: [agent]
    cooldown_s: 60
    params: {threshold: 0.6}
    nudge: "Stay calm with {customer_first_name}."
    source: [{file: 003_f7e816c3ea448539.txt, point: 3}]
"""


def angry(anger: float, text: str = "grr") -> ConversationSnapshot:
    meta = ConversationMeta(
        conversation_id="c",
        customer=Party(id="u", name="Ana"),
        agent=Party(id="a", name="Bo"),
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    turn = TurnRecord(
        message_id="m1",
        role="customer",
        text=text,
        sent_at=datetime(2026, 1, 1, tzinfo=UTC),
        scores=TurnScores(anger=anger, frustration=0.1, sentiment=-0.2),
    )
    return ConversationSnapshot(meta=meta, turns=[turn])


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    d = tmp_path / "rules"
    d.mkdir()
    shutil.copy(DEFAULT, d / "default.yaml")
    return d


def refused(tmp_path: Path, text: str) -> RulePackError:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulePackError) as info:
        load_rule_pack([path])
    assert info.value.file == str(path)
    return info.value
