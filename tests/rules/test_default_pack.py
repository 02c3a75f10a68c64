"""The default pack as data: the rules it must have, where it ships, and its citations."""

from __future__ import annotations

import re
from pathlib import Path

from monitor.rules import RuleEngine
from tests.paths import REPO_ROOT


def test_default_pack_has_the_required_rules(engine: RuleEngine) -> None:
    """The default pack loads and defines every rule id the issue asks for."""
    required = {"anger", "frustration", "shouting", "vulgarity", "canned_reply", "use_name", "escalate", "agent_tone"}
    assert required <= set(engine.rule_ids)
    assert all(rule.source for rule in engine.rules), "every default rule cites the guidance"


def test_rules_dir_exists() -> None:
    """The default pack ships at rules/default.yaml."""
    assert (Path(REPO_ROOT) / "rules" / "default.yaml").is_file()


def test_sources_cite_guidance_files_by_name(engine: RuleEngine) -> None:
    """Every source names a guidance article file (NNN_<hash>.txt) and a point."""

    for rule in engine.rules:
        for source in rule.source:
            assert re.fullmatch(r"\d{3}_[0-9a-f]{16}\.txt", source.file), (rule.id, source.file)
            assert str(source.point).strip()
