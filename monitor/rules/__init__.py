"""The rule engine: guidance-derived rules, as data in ``rules/*.yaml``, watching each conversation.

Public API::

    load_rule_pack(paths) -> RuleEngine      # validate and build; RulePackError names file, rule, field
    RuleEngine.evaluate(snapshot)            # pure: alert candidates for the newest turn
    RuleEngine.risk(snapshot)                # the conversation's risk in [0, 1] for the supervisor board
    RuleEngine.rule_ids
    RuleReloader(paths, on_reload=...)       # .engine, await .run() (file watch), .reload_now() (SIGHUP)
"""

from monitor.rules.detectors import DETECTORS, Finding
from monitor.rules.engine import RuleEngine
from monitor.rules.loader import load_rule_pack, pack_files
from monitor.rules.reloader import RuleReloader

__all__ = ["DETECTORS", "Finding", "RuleEngine", "RuleReloader", "load_rule_pack", "pack_files"]
