"""``calmwatch rules check [PATH...]``: validate rule packs before a running service picks them up.

Prints each enabled rule (what it watches, severity, audience, cooldown) and exits 0, or prints the error
with its file, rule and field and exits 2. Without paths it checks ``CALMWATCH_RULES_PATHS`` (default
``rules/``), exactly what ``calmwatch serve`` would load. ``python -m monitor.rules`` is the same command.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from monitor.errors import RulePackError
from monitor.rules.loader import load_rule_pack


def check_command(paths: Sequence[Path] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Load the packs at ``paths`` (default: the configured ones) and report; 0 when valid, 2 when not."""
    out, err = out or sys.stdout, err or sys.stderr
    if not paths:
        from monitor.settings import Settings

        paths = Settings().rules_paths
    try:
        engine = load_rule_pack(paths)
    except RulePackError as exc:
        print(f"invalid rule pack: {exc}", file=err)
        return 2
    print(f"ok: {len(engine.rule_ids)} rules from {', '.join(str(p) for p in engine.sources)}", file=out)
    for rule in engine.rules:
        state = "" if rule.enabled else "  (disabled)"
        print(
            f"  {rule.id:<14} on {rule.watches:<8} {rule.severity:<8} -> {','.join(rule.audience):<17} "
            f"cooldown {rule.cooldown_s:g}s{state}",
            file=out,
        )
    return 0
