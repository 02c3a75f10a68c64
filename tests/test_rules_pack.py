"""Loading, validating, overriding and hot-reloading rule packs."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import RulePackError
from monitor.rules import RuleReloader, load_rule_pack, pack_files
from monitor.rules.engine import RuleEngine
from monitor.schemas import ConversationMeta, ConversationSnapshot, Party, TurnRecord, TurnScores
from tests.paths import REPO_ROOT

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


def test_minimal_pack_loads(tmp_path: Path) -> None:
    """A one-rule pack file loads and fires with its own nudge."""
    path = tmp_path / "p.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    engine = load_rule_pack([path])
    assert engine.rule_ids == ["anger"]
    assert engine.evaluate(angry(0.7))[0].nudge == "Stay calm with Ana."


def test_unknown_field_names_file_rule_and_field(tmp_path: Path) -> None:
    """A typo in a rule's field is refused with the file, the rule id and the field named."""
    err = refused(tmp_path, MINIMAL.replace("cooldown_s: 60", "cooldown: 60"))
    assert err.rule == "anger" and err.field == "rules.0.cooldown"
    assert "bad.yaml" in str(err) and "'anger'" in str(err)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("threshold: 0.6", "threshold: 1.5", "params.threshold"),
        ("threshold: 0.6", "treshold: 0.6", "params.treshold"),
        ("severity: warning", "severity: loud", "severity"),
        ("audience: [agent]", "audience: [boss]", "audience.0"),
        ("{customer_first_name}", "{customer_nickname}", "nudge"),
        ("    watches: customer\n", "    watches: agent\n", "watches"),
    ],
)
def test_invalid_values_are_refused_with_the_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    """Out-of-range thresholds, unknown params, severities, audiences, nudge fields and watches are refused."""
    err = refused(tmp_path, MINIMAL.replace(old, new))
    assert err.rule == "anger"
    assert err.field is not None and err.field.endswith(field)


def test_missing_required_field_is_refused(tmp_path: Path) -> None:
    """A new rule without a nudge is refused and the message names the missing field."""
    err = refused(tmp_path, MINIMAL.replace('    nudge: "Stay calm with {customer_first_name}."\n', ""))
    assert err.field == "nudge" and "required" in str(err).lower()


def test_unknown_detector_and_variant_are_refused(tmp_path: Path) -> None:
    """A rule naming a detector that does not exist, or an outcome its detector lacks, is refused."""
    err = refused(tmp_path, MINIMAL.replace("id: anger", "id: rage"))
    assert err.rule == "rage" and err.field == "id" and "unknown detector" in str(err)
    err = refused(tmp_path, MINIMAL + "    variants: {furious: {severity: critical}}\n")
    assert err.field == "variants.furious"


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    """Broken YAML is refused with the file and the line."""
    err = refused(tmp_path, MINIMAL.replace("audience: [agent]", "audience: [agent"))
    assert "line" in str(err)


def test_duplicate_ids_in_one_file_are_refused(tmp_path: Path) -> None:
    """The same id twice in one file is a mistake, not an override."""
    body = MINIMAL.split("rules:\n", 1)[1]
    err = refused(tmp_path, MINIMAL + body)
    assert err.rule == "anger" and err.field == "id"


def test_later_pack_overrides_by_id_and_adds_rules(pack_dir: Path) -> None:
    """A user pack next to the default changes a threshold, disables a rule and adds a new one."""
    (pack_dir / "local.yaml").write_text(
        """
rules:
  - id: anger
    params: {threshold: 0.9}
  - id: follow_up
    enabled: false
  - id: anger_severe
    detector: anger
    watches: customer
    severity: critical
    audience: [supervisor]
    cooldown_s: 600
    params: {threshold: 0.95}
    nudge: "Very angry customer ({anger})."
signals:
  acronyms: [ZFS]
""",
        encoding="utf-8",
    )
    engine = load_rule_pack([pack_dir])
    assert [p.name for p in engine.sources] == ["default.yaml", "local.yaml"]
    assert "follow_up" not in engine.rule_ids and "anger_severe" in engine.rule_ids
    assert "anger" not in {c.rule for c in engine.evaluate(angry(0.8))}
    severe = {c.rule: c for c in engine.evaluate(angry(0.97))}
    assert severe["anger_severe"].nudge == "Very angry customer (0.97)."
    assert "ZFS" in engine.signals.acronyms and "SSD" in engine.signals.acronyms


def test_default_yaml_loads_first(pack_dir: Path) -> None:
    """In a directory, default.yaml is read before the other files, which follow by name."""
    (pack_dir / "a_site.yaml").write_text("rules: []\n", encoding="utf-8")
    (pack_dir / "z_team.yaml").write_text("rules: []\n", encoding="utf-8")
    assert [p.name for p in pack_files([pack_dir])] == ["default.yaml", "a_site.yaml", "z_team.yaml"]


def test_missing_path_is_refused(tmp_path: Path) -> None:
    """A pack path that does not exist is an error naming it."""
    with pytest.raises(RulePackError, match="no such file"):
        load_rule_pack([tmp_path / "nope.yaml"])


def test_reload_now_installs_valid_and_keeps_old_on_invalid(pack_dir: Path) -> None:
    """reload_now swaps in a valid edit, and keeps the previous engine when the edit is broken."""
    seen: list[RuleEngine] = []
    reloader = RuleReloader([pack_dir], on_reload=seen.append)
    first = reloader.engine
    local = pack_dir / "local.yaml"
    local.write_text("rules:\n  - id: anger\n    params: {threshold: 0.95}\n", encoding="utf-8")
    assert reloader.reload_now() is True
    assert reloader.engine is not first and seen == [reloader.engine]
    assert "anger" not in {c.rule for c in reloader.engine.evaluate(angry(0.8))}
    good = reloader.engine
    local.write_text("rules:\n  - id: anger\n    params: {threshold: 'high'}\n", encoding="utf-8")
    assert reloader.reload_now() is False
    assert reloader.engine is good
    assert reloader.last_error is not None and reloader.last_error.field == "params.threshold"


def test_first_load_of_a_broken_pack_raises(tmp_path: Path) -> None:
    """A service must not start on an invalid pack: the reloader's first load raises."""
    path = tmp_path / "p.yaml"
    path.write_text("rules: {}\n", encoding="utf-8")
    with pytest.raises(RulePackError):
        RuleReloader([path])


async def test_file_watch_reloads_on_edit(pack_dir: Path) -> None:
    """Saving a changed pack file while run() watches makes the engine change without a restart."""
    reloaded = asyncio.Event()
    reloader = RuleReloader([pack_dir], on_reload=lambda _engine: reloaded.set(), debounce_ms=50)
    first = reloader.engine
    task = asyncio.create_task(reloader.run())
    try:
        await asyncio.sleep(0.3)  # let the watcher start before the edit
        (pack_dir / "local.yaml").write_text("rules:\n  - id: anger\n    enabled: false\n", encoding="utf-8")
        async with asyncio.timeout(15):
            await reloaded.wait()
        assert reloader.engine is not first
        assert "anger" not in reloader.engine.rule_ids
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_check_command_lists_rules_or_names_the_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m monitor.rules PATH` prints the rules of a valid pack (0) or the located error (2)."""
    from monitor.rules.__main__ import main as check

    assert check([str(DEFAULT)]) == 0
    assert "anger" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("cooldown_s: 60", "cooldown: 60"), encoding="utf-8")
    assert check([str(bad)]) == 2
    assert "field 'rules.0.cooldown'" in capsys.readouterr().err
