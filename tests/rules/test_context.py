"""What a detector sees: text signals computed with the pack's own numbers, so a pack can retune them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.rules import load_rule_pack
from monitor.rules.context import SignalExtractor
from monitor.rules.engine import RuleEngine
from monitor.rules.schema import Signals
from monitor.schemas import ConversationMeta, ConversationSnapshot, Party, TurnRecord, TurnScores

PACK_DIR = Path(__file__).resolve().parents[2] / "rules"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def with_override(tmp_path: Path, yaml_text: str) -> RuleEngine:
    local = tmp_path / "local.yaml"
    local.write_text(yaml_text, encoding="utf-8")
    return load_rule_pack([PACK_DIR, local])


def customer_turns(*turns: tuple[str, float, float]) -> ConversationSnapshot:
    """Customer turns of (text, anger, sentiment)."""
    records = [
        TurnRecord(
            message_id=f"m{i}",
            role="customer",
            text=text,
            sent_at=T0 + timedelta(seconds=30 * i),
            scores=TurnScores(anger=anger, frustration=anger, sentiment=sentiment),
        )
        for i, (text, anger, sentiment) in enumerate(turns)
    ]
    meta = ConversationMeta(
        conversation_id="c1", customer=Party(id="u", name="Zoë"), agent=Party(id="a", name="Sam"), started_at=T0
    )
    return ConversationSnapshot(meta=meta, turns=records)


def test_default_signals_keep_the_numbers_the_code_used_to_hold() -> None:
    """The pack's values equal the schema defaults, which are the constants the detectors had built in."""
    signals = load_rule_pack([PACK_DIR]).signals
    assert (signals.acronym_max_letters, signals.loud_run_words, signals.abuse_reach) == (4, 3, 4)
    assert signals.praise_max_anger == 0.3
    assert signals.praise_emotions == ["admiration", "amusement", "excitement", "gratitude", "joy", "love"]
    assert Signals().model_dump(include={"acronym_max_letters", "loud_run_words", "abuse_reach"}) == {
        "acronym_max_letters": 4,
        "loud_run_words": 3,
        "abuse_reach": 4,
    }


def test_shouting_numbers_come_from_the_pack() -> None:
    """With acronym_max_letters 5 a lone 'REFUND' still counts, 'HELLO' no longer does; a run of two is loud
    only when loud_run_words is 2."""
    default = SignalExtractor(Signals())
    assert default.features("I want a REFUND today").shouting.loud_words == 1
    assert default.features("say HELLO now").shouting.loud_words == 1
    assert default.features("NOT OK").shouting.longest_loud_run == 0
    retuned = SignalExtractor(Signals(acronym_max_letters=5, loud_run_words=2))
    assert retuned.features("I want a REFUND today").shouting.loud_words == 1
    assert retuned.features("say HELLO now").shouting.loud_words == 0
    assert retuned.features("NOT OK").shouting.longest_loud_run == 2


def test_abuse_reach_comes_from_the_pack() -> None:
    """An insult five words after 'you' is aimed only once the pack's reach is at least five."""
    text = "you and all of the idiots"
    assert not SignalExtractor(Signals(insults=["idiots"])).features(text).abuse.aimed
    assert SignalExtractor(Signals(insults=["idiots"], abuse_reach=5)).features(text).abuse.aimed


def test_praise_max_anger_comes_from_the_pack(tmp_path: Path) -> None:
    """Happy swearing at 'you' at anger 0.35 is abuse by default, and praise once praise_max_anger is 0.4."""
    turn = customer_turns(("you guys are fucking legends", 0.35, 0.9))
    assert "vulgarity" in {c.rule for c in load_rule_pack([PACK_DIR]).evaluate(turn)}
    engine = with_override(tmp_path, "signals:\n  praise_max_anger: 0.4\n")
    assert "vulgarity" not in {c.rule for c in engine.evaluate(turn)}


def test_de_escalated_capitals_veto_comes_from_the_pack(tmp_path: Path) -> None:
    """A calm-scored turn in capitals after a peak is not de-escalation by default; with the capitals bar
    raised past it, it is."""
    turns = customer_turns(("this is a disgrace", 0.9, -0.6), ("OK THANK YOU PLZ FIX IT", 0.1, 0.6))
    assert "de_escalated" not in {c.rule for c in load_rule_pack([PACK_DIR]).evaluate(turns)}
    engine = with_override(
        tmp_path,
        "rules:\n  - id: de_escalated\n    params: {capitals_min_loud_words: 20, capitals_min_run: 20}\n",
    )
    assert "de_escalated" in {c.rule for c in engine.evaluate(turns)}
