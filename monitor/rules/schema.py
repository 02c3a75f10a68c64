"""The shape of a rule pack file, as pydantic models so that every error comes with its location.

A pack file is YAML::

    version: 1
    signals: {...}     # word lists the text signals use (acronyms, phrases, insults, profanity exceptions)
    risk: {...}        # weights of the conversation risk score shown on the supervisor board
    alerts: {...}      # how rules give way to each other (the hold-back after a critical alert)
    rules:
      - id: anger
        detector: anger          # which detector function (defaults to the id)
        watches: customer        # which arriving turn triggers it: customer, agent or any
        severity: warning
        audience: [agent]
        cooldown_s: 120
        params: {threshold: 0.6} # thresholds and windows, checked against the detector's own model
        variants: {...}          # per-outcome overrides of severity/audience/nudge
        nudge: "..."             # our words; may use {customer_first_name} and the detector's fields
        source: [{file: 004_c9552e94d6a0b9de.txt, point: "6"}]

Later files may add rules or override fields of an earlier rule by id (see :mod:`monitor.rules.loader`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from monitor.schemas import AudienceMember, Severity

RULE_ID_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
Watches = Literal["customer", "agent", "any"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    """Where in the guidance a rule comes from: a file name and a point (number or short label)."""

    file: str = Field(min_length=1, max_length=200)
    point: str | int


class Variant(_Strict):
    """Overrides for one outcome of a detector (e.g. ``vulgarity``'s ``repeated_abuse``)."""

    severity: Severity | None = None
    audience: list[AudienceMember] | None = Field(default=None, min_length=1)
    nudge: str | None = Field(default=None, min_length=1, max_length=600)


class RuleSpec(_Strict):
    """One complete rule after the packs are merged."""

    id: str = Field(pattern=RULE_ID_PATTERN)
    detector: str | None = None
    description: str = ""
    enabled: bool = True
    watches: Watches
    severity: Severity
    audience: list[AudienceMember] = Field(min_length=1)
    cooldown_s: float = Field(ge=0, le=7 * 24 * 3600)
    nudge: str = Field(min_length=1, max_length=600)
    source: list[Source] = Field(default_factory=list)
    params: dict[str, object] = Field(default_factory=dict)
    variants: dict[str, Variant] = Field(default_factory=dict)

    @property
    def detector_name(self) -> str:
        return self.detector or self.id


class ProfanitySignals(_Strict):
    """Changes to the ``better-profanity`` lexicon: words that are not vulgar in a support chat, and additions."""

    ignore_words: list[str] = Field(default_factory=list)
    extra_words: list[str] = Field(default_factory=list)


class Signals(_Strict):
    """Word and phrase lists the detectors share. Phrases match whole words, case- and accent-insensitively."""

    acronyms: list[str] = Field(default_factory=list)
    acronym_max_letters: int = Field(
        default=4, ge=1, le=20, description="capital words this short (SSD, BIOS) are loud only in a run ..."
    )
    loud_run_words: int = Field(default=3, ge=2, le=20, description="... of at least this many capital words")
    profanity: ProfanitySignals = Field(default_factory=ProfanitySignals)
    insults: list[str] = Field(default_factory=list)
    abuse_phrases: list[str] = Field(default_factory=list)
    abuse_reach: int = Field(
        default=4, ge=1, le=20, description="an insult or profane word this many words after 'you' is aimed at them"
    )
    praise_max_anger: float = Field(
        default=0.3, ge=0.0, le=1.0, description="praise needs the model's anger below this ..."
    )
    praise_sentiment: float = Field(
        default=0.5, ge=-1.0, le=1.0, description="... and VADER at least this (swearing at 'you' is then praise) ..."
    )
    praise_emotion: float = Field(
        default=0.5, ge=0.0, le=1.0, description="... or its strongest delight emotion (praise_emotions) at least this"
    )
    praise_emotions: list[str] = Field(
        default_factory=lambda: ["admiration", "amusement", "excitement", "gratitude", "joy", "love"],
        description="GoEmotions labels that mark a turn as delighted rather than hostile",
    )
    manager_request: list[str] = Field(default_factory=list)
    threats: list[str] = Field(default_factory=list)
    dismissive: list[str] = Field(default_factory=list)
    promises: list[str] = Field(default_factory=list)
    apologies: list[str] = Field(default_factory=list)
    repeat_contact: list[str] = Field(default_factory=list)


class RiskWeights(_Strict):
    """How :meth:`RuleEngine.risk` combines recent customer turns into one number (see its docstring)."""

    turns: int = Field(default=3, ge=1, le=20)
    recency_weights: list[float] = Field(default=[0.6, 0.25, 0.15], min_length=1)
    frustration_weight: float = Field(default=0.8, ge=0, le=1)
    trend_weight: float = Field(default=0.5, ge=0, le=2)
    escalation_bonus: float = Field(default=0.3, ge=0, le=1)
    abuse_bonus: float = Field(default=0.2, ge=0, le=1)


class AlertPolicy(_Strict):
    """How alerts of different rules in one conversation give way to each other."""

    hold_after_critical_s: float = Field(
        default=180.0,
        ge=0,
        le=3600,
        description="after a critical alert, lower-severity ones in the same conversation are held back this long",
    )
    hold_exempt: list[str] = Field(
        default_factory=list, description="rule ids never held back (news that the customer calmed down)"
    )


class PackFile(_Strict):
    """One YAML file as written; rules are kept raw here and validated after merging."""

    version: Literal[1] = 1
    description: str = ""
    signals: dict[str, object] = Field(default_factory=dict)
    risk: dict[str, object] = Field(default_factory=dict)
    alerts: dict[str, object] = Field(default_factory=dict)
    rules: list[dict[str, object]] = Field(default_factory=list)


class RuleOverride(_Strict):
    """A rule entry in one file: every field optional (it may override an earlier rule), unknown ones refused."""

    id: str = Field(pattern=RULE_ID_PATTERN)
    detector: str | None = None
    description: str | None = None
    enabled: bool | None = None
    watches: Watches | None = None
    severity: Severity | None = None
    audience: list[AudienceMember] | None = None
    cooldown_s: float | None = None
    nudge: str | None = None
    source: list[Source] | None = None
    params: dict[str, object] | None = None
    variants: dict[str, dict[str, object]] | None = None
