"""Loading, validating and overriding rule packs; every error names its file, rule and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import RulePackError
from monitor.rules import load_rule_pack, pack_files
from tests.rules.conftest import MINIMAL, angry, refused


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


def test_alert_policy_is_pack_data(tmp_path: Path) -> None:
    """The hold-back after a critical alert comes from the pack's `alerts` section; it reaches each candidate,
    except the rules it exempts, and an exempt rule that does not exist is refused."""
    path = tmp_path / "p.yaml"
    path.write_text(MINIMAL + "alerts:\n  hold_after_critical_s: 45\n", encoding="utf-8")
    assert load_rule_pack([path]).evaluate(angry(0.7))[0].hold_after_critical_s == 45
    path.write_text(MINIMAL + "alerts:\n  hold_exempt: [anger]\n", encoding="utf-8")
    assert load_rule_pack([path]).evaluate(angry(0.7))[0].hold_after_critical_s == 0
    err = refused(tmp_path, MINIMAL + "alerts:\n  hold_exempt: [angr]\n")
    assert err.field == "alerts.hold_exempt" and "'angr'" in str(err)
