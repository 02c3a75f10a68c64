"""The rule engine: a validated pack turned into a pure ``snapshot -> alert candidates`` function.

Evaluation is a chain of small pure steps: pick the rules that watch the new turn's role, run each one's
detector, and render the findings into :class:`~monitor.schemas.AlertCandidate` objects. No I/O, no clock,
no randomness: the same snapshot always gives the same candidates, so a replay shows what the service did.
Cooldowns are *not* applied here (the alert stage does that per conversation in Redis); each candidate
carries its rule's ``cooldown_s``, its variant and the pack's hold-back after a critical alert.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from monitor.rules.context import SignalExtractor, TurnContext
from monitor.rules.detectors import Detector, Finding, Params, abusive
from monitor.rules.schema import AlertPolicy, RiskWeights, RuleSpec, Signals
from monitor.schemas import AlertCandidate, AudienceMember, ConversationSnapshot, Severity

#: Fields every nudge may use, whatever its detector.
NAME_FIELDS = frozenset({"customer_first_name", "customer_name", "agent_first_name", "agent_name"})


def template_fields(template: str) -> set[str]:
    """The ``{field}`` names a nudge template uses (raises ``ValueError`` on a malformed template)."""
    names: set[str] = set()
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"field {{{name}}} must be a plain name like {{customer_first_name}}")
        names.add(name)
    return names


@dataclass(frozen=True)
class Outcome:
    """Severity, audience and nudge for one outcome of a rule (the rule's own, or a variant's)."""

    severity: Severity
    audience: tuple[AudienceMember, ...]
    nudge: str


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to run: its spec, its detector, validated parameters and resolved outcomes."""

    spec: RuleSpec
    detector: Detector
    params: Params
    outcomes: Mapping[str | None, Outcome]

    def watches(self, role: str) -> bool:
        return self.spec.watches == "any" or self.spec.watches == role

    def candidate(self, finding: Finding, names: Mapping[str, str], *, hold_s: float = 0.0) -> AlertCandidate:
        outcome = self.outcomes.get(finding.variant) or self.outcomes[None]
        fields = {**names, **{k: str(v) for k, v in finding.fields.items()}}
        nudge = outcome.nudge.format_map(_Fields(fields))
        reason = finding.reason if finding.variant is None else f"{finding.variant}: {finding.reason}"
        return AlertCandidate(
            rule=self.spec.id,
            severity=outcome.severity,
            audience=list(outcome.audience),
            nudge=nudge,
            reason=reason,
            cooldown_s=self.spec.cooldown_s,
            variant=finding.variant,
            hold_after_critical_s=hold_s,
        )


class _Fields(dict[str, str]):
    """A detector may leave a field out on some outcomes; show a blank rather than fail at run time."""

    def __missing__(self, key: str) -> str:
        return ""


class RuleEngine:
    """Evaluates a loaded rule pack. Build it with :func:`monitor.rules.load_rule_pack`."""

    def __init__(
        self,
        rules: Sequence[CompiledRule],
        signals: Signals,
        risk: RiskWeights,
        sources: Sequence[Path] = (),
        *,
        alert_policy: AlertPolicy | None = None,
    ) -> None:
        self._rules = [r for r in rules if r.spec.enabled]
        self._all = list(rules)
        self.signals = signals
        self.risk_weights = risk
        self.alert_policy = alert_policy or AlertPolicy()
        self.sources = list(sources)
        self._extractor = SignalExtractor(signals)

    @property
    def rule_ids(self) -> list[str]:
        """Ids of the enabled rules, in pack order."""
        return [r.spec.id for r in self._rules]

    @property
    def rules(self) -> list[RuleSpec]:
        """Every rule of the pack (disabled ones too), as validated specs."""
        return [r.spec for r in self._all]

    def parameter(self, rule_id: str, name: str) -> object | None:
        """A rule's validated parameter (defaults filled in), e.g. the threshold a suggestion would change."""
        rule = next((r for r in self._all if r.spec.id == rule_id), None)
        return getattr(rule.params, name, None) if rule is not None else None

    def detector_of(self, rule_id: str) -> str | None:
        rule = next((r for r in self._all if r.spec.id == rule_id), None)
        return rule.detector.name if rule is not None else None

    def context(self, snapshot: ConversationSnapshot) -> TurnContext:
        return TurnContext(snapshot, self._extractor)

    def evaluate(self, snapshot: ConversationSnapshot) -> list[AlertCandidate]:
        """Alert candidates for the snapshot's newest turn, one at most per rule, in pack order."""
        if not snapshot.turns:
            return []
        ctx = self.context(snapshot)
        role = ctx.latest.role
        out: list[AlertCandidate] = []
        for rule in self._rules:
            if not rule.watches(role):
                continue
            finding = rule.detector.fn(ctx, rule.params)
            if finding is not None:
                policy = self.alert_policy
                hold = 0.0 if rule.spec.id in policy.hold_exempt else policy.hold_after_critical_s
                out.append(rule.candidate(finding, ctx.name_fields, hold_s=hold))
        return out

    def risk(self, snapshot: ConversationSnapshot) -> float:
        """The conversation's current risk in [0, 1], for ranking conversations on the supervisor board.

        ``level``: a recency-weighted mean over the last ``turns`` customer turns the model read of
        ``max(anger, frustration_weight * frustration)``, newest weighted most;
        ``trend``: ``trend_weight`` times how much anger rose from the oldest to the newest of those turns
        (falls do not lower risk below the level);
        ``signals``: ``escalation_bonus`` if one of those turns asks for a manager or threatens to leave or
        complain, plus ``abuse_bonus`` if one is abusive. The sum is clipped to [0, 1]. No customer turn: 0.
        """
        w = self.risk_weights
        ctx = self.context(snapshot)
        turns = ctx.recent_customer(w.turns)
        if not turns:
            return 0.0
        # Turns the model did not read add no level or trend; their words still count for the signals below.
        scored = [(s.anger, s.frustration) for s in ctx.recent_customer_scores(w.turns)]
        level = trend = 0.0
        if scored:
            values = [max(a, w.frustration_weight * f) for a, f in reversed(scored)]
            weights = [w.recency_weights[min(i, len(w.recency_weights) - 1)] for i in range(len(values))]
            total = sum(weights)
            level = sum(v * k for v, k in zip(values, weights, strict=True)) / total if total > 0 else values[0]
            trend = w.trend_weight * max(0.0, scored[-1][0] - scored[0][0])
        bonus = 0.0
        if any(ctx.features(t).manager_request or ctx.features(t).threat for t in turns):
            bonus += w.escalation_bonus
        if any(abusive(ctx, t) for t in turns):
            bonus += w.abuse_bonus
        return round(min(1.0, max(0.0, level + trend + bonus)), 4)
