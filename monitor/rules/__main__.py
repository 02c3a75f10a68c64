"""``python -m monitor.rules [PATH...]``: validate rule packs before a running service picks them up.

Prints each enabled rule (what it watches, severity, audience, cooldown) and exits 0, or prints the error
with its file, rule and field and exits 2. Without paths it checks ``CALMWATCH_RULES_PATHS`` (default
``rules/``), exactly what ``calmwatch serve`` would load.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from monitor.errors import RulePackError
from monitor.rules.loader import load_rule_pack


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if args:
        paths = [Path(a) for a in args]
    else:
        from monitor.settings import Settings

        paths = Settings().rules_paths
    try:
        engine = load_rule_pack(paths)
    except RulePackError as exc:
        print(f"invalid rule pack: {exc}", file=sys.stderr)
        return 2
    print(f"ok: {len(engine.rule_ids)} rules from {', '.join(str(p) for p in engine.sources)}")
    for rule in engine.rules:
        state = "" if rule.enabled else "  (disabled)"
        print(
            f"  {rule.id:<14} on {rule.watches:<8} {rule.severity:<8} -> {','.join(rule.audience):<17} "
            f"cooldown {rule.cooldown_s:g}s{state}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
