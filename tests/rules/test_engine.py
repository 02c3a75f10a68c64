"""The engine: pure evaluation, rendered candidates, and the conversation risk."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from monitor.rules import RuleEngine, load_rule_pack
from tests.paths import REPO_ROOT
from tests.rules.conftest import fired, snap


def test_evaluate_is_pure(engine: RuleEngine) -> None:
    """The same snapshot gives the same candidates every time."""
    s = snap([("customer", "YOU are USELESS!!!", 0.9, 0.8, -0.8)])
    assert engine.evaluate(s) == engine.evaluate(s)


def test_risk_orders_conversations(engine: RuleEngine) -> None:
    """Risk is 0 with no customer turns, low when calm, high when angry, higher still with a threat."""
    assert engine.risk(snap([("agent", "Hi!")])) == 0.0
    calm = engine.risk(snap([("customer", "thanks", 0.05, 0.05)]))
    angry = engine.risk(snap([("customer", "grr", 0.2, 0.2), ("agent", "."), ("customer", "argh", 0.8, 0.6)]))
    threat = engine.risk(snap([("customer", "I'm calling my lawyer", 0.8, 0.6)]))
    assert 0.0 <= calm < 0.2 < angry <= 1.0
    assert threat > 0.8 and threat <= 1.0


def test_all_candidates_have_reasons_and_cooldowns(engine: RuleEngine) -> None:
    """Every candidate carries a non-empty reason with a number, and its rule's cooldown."""
    out = engine.evaluate(snap([("customer", "FIX IT NOW, you morons!!! I want a manager", 0.9, 0.9, -0.9)]))
    assert {c.rule for c in out} >= {"anger", "frustration", "shouting", "vulgarity", "escalate"}
    for cand in out:
        assert cand.reason and cand.cooldown_s > 0
        assert "{" not in cand.nudge, "template fields are filled"


def test_missing_name_reads_naturally(engine: RuleEngine) -> None:
    """Without a customer name, nudges say 'the customer' instead of leaving a gap."""
    out = fired(engine, [("customer", "grr", 0.9, 0.2)], customer="")
    assert "the customer" in out["anger"].nudge.lower()


def test_risk_weights_come_from_the_pack(tmp_path: Path) -> None:
    """A pack's `risk` section changes the risk score (here: no threat bonus)."""

    shutil.copy(REPO_ROOT / "rules" / "default.yaml", tmp_path / "default.yaml")
    (tmp_path / "local.yaml").write_text("risk:\n  escalation_bonus: 0.0\n", encoding="utf-8")
    local = load_rule_pack([tmp_path])
    default = load_rule_pack([REPO_ROOT / "rules"])
    threat = snap([("customer", "I'm calling my lawyer", 0.3, 0.2)])
    assert default.risk(threat) == pytest.approx(local.risk(threat) + 0.3)


def test_unscored_turns_add_no_level_but_their_words_count(engine: RuleEngine) -> None:
    """Risk's level and trend come from scored turns; a manager request counts in any turn."""
    assert engine.risk(snap([("customer", "Hallo, wo ist mein Paket?", None)])) == 0.0
    angry_then_unscored = snap([("customer", "a", 0.8, 0.8), ("customer", "b", None)])
    assert engine.risk(angry_then_unscored) == engine.risk(snap([("customer", "a", 0.8, 0.8)]))
    assert engine.risk(snap([("customer", "I want to speak to your manager", None)])) > 0.0
