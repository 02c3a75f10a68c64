"""The detectors: small pure functions ``(context, params) -> Finding | None``, one per kind of rule.

A rule in the pack names its detector and gives its parameters; the detector decides *whether* and *which
outcome* (a variant, e.g. ``vulgarity``'s ``repeated_abuse``), and says why with numbers. Severity,
audience, cooldown and the nudge's wording live in the pack, not here.

Scores are read from :class:`~monitor.schemas.TurnScores`: ``anger`` and ``frustration`` are calibrated
probabilities (0.5 = more likely than not), ``sentiment`` is VADER's compound in [-1, 1]. A turn the model
did not read (``scored`` false: not English, or an unscored agent turn) has no numbers: score-based rules
skip it and never count it as calm or as upset; the word-based rules read its text as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, model_validator

from monitor.rules.context import TurnContext
from monitor.schemas import TurnRecord
from monitor.text_signals import (
    first_name,
    mentions_name,
    normalise_reply,
    original_span,
    reply_similarity,
    sentence_with,
)


@dataclass(frozen=True, slots=True)
class Finding:
    """A detector's verdict: which variant (``None`` = the rule's own settings), why, and nudge fields."""

    reason: str
    variant: str | None = None
    fields: Mapping[str, object] = field(default_factory=dict)


class Params(BaseModel):
    """Base of every detector's parameter model: unknown keys are errors, so typos in the pack are caught."""

    model_config = ConfigDict(extra="forbid", frozen=True)


DetectorFn = Callable[[TurnContext, Params], Finding | None]


@dataclass(frozen=True)
class Detector:
    """A registered detector: its parameter model, the roles it may watch and the outcomes it can report."""

    name: str
    params: type[Params]
    fn: DetectorFn
    watches: frozenset[str]
    variants: frozenset[str] = frozenset()
    fields: frozenset[str] = frozenset()


DETECTORS: dict[str, Detector] = {}


def _register(
    name: str,
    params: type[Params],
    *,
    watches: set[str],
    variants: set[str] | None = None,
    fields: set[str] | None = None,
) -> Callable[[DetectorFn], DetectorFn]:
    def add(fn: DetectorFn) -> DetectorFn:
        DETECTORS[name] = Detector(
            name, params, fn, frozenset(watches), frozenset(variants or ()), frozenset(fields or ())
        )
        return fn

    return add


def _upset(turn: TurnRecord) -> float | None:
    """The larger of anger and frustration; ``None`` for a turn the model did not read."""
    if turn.scores is None:
        return None
    return max(turn.scores.anger, turn.scores.frustration)


def _count(n: int, singular: str, plural: str | None = None) -> str:
    """``1 reply``, ``2 replies``: reasons are read by people, so no ``repl(ies)``."""
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


# ------------------------------------------------------------------------------------------------ anger


class AngerParams(Params):
    threshold: float = Field(default=0.6, ge=0.0, le=1.0)


@_register("anger", AngerParams, watches={"customer"}, fields={"anger"})
def anger(ctx: TurnContext, p: Params) -> Finding | None:
    """The customer's new turn is angry."""
    assert isinstance(p, AngerParams)
    scores = ctx.latest.scores
    if scores is None or scores.anger < p.threshold:
        return None
    value = scores.anger
    return Finding(f"customer anger {value:.2f} >= {p.threshold:.2f} on this turn", fields={"anger": f"{value:.2f}"})


# ------------------------------------------------------------------------------------------ frustration


class FrustrationParams(Params):
    threshold: float = Field(default=0.6, ge=0.0, le=1.0)
    window: int = Field(default=3, ge=2, le=20, description="customer turns the rise is measured over")
    rise: float = Field(default=0.3, gt=0.0, le=1.0, description="increase from the window's lowest turn")
    rise_floor: float = Field(default=0.45, ge=0.0, le=1.0, description="the new turn must be at least this")


@_register("frustration", FrustrationParams, watches={"customer"}, variants={"high", "rising"}, fields={"frustration"})
def frustration(ctx: TurnContext, p: Params) -> Finding | None:
    """Frustration is high on the new turn, or has climbed over the last few customer turns."""
    assert isinstance(p, FrustrationParams)
    if ctx.latest.scores is None:
        return None
    value = ctx.latest.scores.frustration
    fields = {"frustration": f"{value:.2f}"}
    if value >= p.threshold:
        return Finding(f"customer frustration {value:.2f} >= {p.threshold:.2f} on this turn", "high", fields)
    recent = [s.frustration for s in ctx.recent_customer_scores(p.window)]
    if len(recent) >= 2 and value >= p.rise_floor:
        low = min(recent[:-1])
        if value - low >= p.rise:
            trail = " -> ".join(f"{v:.2f}" for v in recent)
            return Finding(
                f"customer frustration rising over {len(recent)} turns ({trail}; +{value - low:.2f} >= {p.rise:.2f})",
                "rising",
                fields,
            )
    return None


# --------------------------------------------------------------------------------------------- shouting


class LoudParams(Params):
    """What counts as writing loudly; shared by `shouting` (customers) and `agent_tone` (agents)."""

    min_loud_words: int = Field(default=3, ge=1, description="capital words (acronyms excluded) ...")
    min_loud_ratio: float = Field(default=0.5, ge=0.0, le=1.0, description="... making up this share of letters")
    min_run: int = Field(default=3, ge=2, description="or this many capital words in a row")
    punctuation_runs: bool = Field(default=True, description="'!!!' or '???' counts as shouting")
    punctuation_min_upset: float = Field(
        default=0.3, ge=0.0, le=1.0, description="'!!!' alone counts when anger or frustration is at least this"
    )


class ShoutingParams(LoudParams):
    calm_sentiment: float = Field(
        default=0.3, ge=-1.0, le=1.0, description="a turn at least this positive and not angry is delight, not shouting"
    )
    calm_anger: float = Field(default=0.3, ge=0.0, le=1.0)


def _loud(ctx: TurnContext, turn: TurnRecord, p: LoudParams) -> tuple[str, bool] | None:
    """What makes the turn loud and whether capitals do, or ``None``. ``!!!`` alone counts only on an upset turn."""
    sig = ctx.features(turn).shouting
    by_caps = sig.loud_words >= p.min_loud_words and sig.loud_ratio >= p.min_loud_ratio
    by_caps = by_caps or sig.longest_loud_run >= p.min_run
    upset = _upset(turn)
    by_punct = (
        p.punctuation_runs and sig.punctuation_runs > 0 and upset is not None and upset >= p.punctuation_min_upset
    )
    if not (by_caps or by_punct):
        return None
    parts = []
    if by_caps:
        parts.append(f"{sig.loud_words} capital words ({sig.loud_ratio:.0%} of letters, run of {sig.longest_loud_run})")
    if by_punct:
        runs = _count(sig.punctuation_runs, "run")
        parts.append(f"{runs} of !!!/??? with anger/frustration {upset:.2f}")
    return ", ".join(parts), by_caps


@_register("shouting", ShoutingParams, watches={"customer", "agent"}, variants={"capitals", "punctuation"})
def shouting(ctx: TurnContext, p: Params) -> Finding | None:
    """The new turn is written in capitals or with runs of ``!!!``/``???`` - unless it is plainly happy."""
    assert isinstance(p, ShoutingParams)
    turn = ctx.latest
    loud = _loud(ctx, turn, p)
    if loud is None:
        return None
    s = turn.scores
    if s is not None and s.sentiment >= p.calm_sentiment and s.anger < p.calm_anger:
        return None
    what, by_caps = loud
    scores = f"sentiment {s.sentiment:+.2f}, anger {s.anger:.2f}" if s is not None else "not scored"
    return Finding(f"{what}; {scores}", "capitals" if by_caps else "punctuation")


# -------------------------------------------------------------------------------------------- vulgarity


class VulgarityParams(Params):
    window: int = Field(default=6, ge=1, le=20, description="customer turns searched for earlier abuse")
    repeat: int = Field(default=2, ge=2, le=20, description="abusive turns in the window that make it repeated")
    delight_sentiment: float = Field(
        default=0.3, ge=-1.0, le=1.0, description="swearing in a turn this positive (and not aimed) is ignored"
    )


def abusive(ctx: TurnContext, turn: TurnRecord) -> bool:
    """A turn is abusive when profanity or an insult is aimed at the reader - unless it is praise
    ("you guys are f*cking legends": clearly positive and not angry)."""
    if not ctx.features(turn).abuse.aimed:
        return False
    return not praise(ctx, turn)


def praise(ctx: TurnContext, turn: TurnRecord) -> bool:
    """A clearly happy, non-angry turn: by VADER, or by the model's delight emotions when it reports them.
    The thresholds and the delight labels are the pack's ``praise_*`` signals."""
    signals = ctx.extractor.signals
    s = turn.scores
    if s is None or s.anger >= signals.praise_max_anger:
        return False  # angry, or not scored: nothing says it is happy
    delight = max((s.emotions.get(label, 0.0) for label in signals.praise_emotions), default=0.0)
    return s.sentiment >= signals.praise_sentiment or delight >= signals.praise_emotion


@_register("vulgarity", VulgarityParams, watches={"customer"}, variants={"swearing", "abuse", "repeated_abuse"})
def vulgarity(ctx: TurnContext, p: Params) -> Finding | None:
    """Profanity or abuse from the customer: swearing (info), aimed at the agent, or repeated abuse."""
    assert isinstance(p, VulgarityParams)
    turn = ctx.latest
    sig = ctx.features(turn).abuse
    if abusive(ctx, turn):
        count = sum(abusive(ctx, t) for t in ctx.recent_customer(p.window))
        words = f"{_count(sig.profane_words, 'profane word')}, {_count(sig.insults, 'insult')} aimed at the agent"
        if count >= p.repeat:
            return Finding(f"{words}; abusive turns in the last {p.window} customer turns: {count}", "repeated_abuse")
        return Finding(words, "abuse")
    if sig.profane_words == 0:
        return None
    s = turn.scores
    if (s is not None and s.sentiment >= p.delight_sentiment) or praise(ctx, turn):
        return None
    tone = f"sentiment {s.sentiment:+.2f}" if s is not None else "not scored"
    return Finding(f"{_count(sig.profane_words, 'profane word')}, not aimed at anyone; {tone}", "swearing")


# ----------------------------------------------------------------------------------------- canned_reply


class CannedReplyParams(Params):
    min_similarity: float = Field(default=0.88, ge=0.5, le=1.0)
    min_chars: int = Field(default=25, ge=1, description="shorter replies ('Thanks!') may repeat freely")
    supervisor_repeats: int = Field(
        default=3, ge=1, le=20, description="on this many repeats of the same reply the outcome is 'persistent'"
    )


@_register(
    "canned_reply", CannedReplyParams, watches={"agent"}, variants={"persistent"}, fields={"similarity", "times"}
)
def canned_reply(ctx: TurnContext, p: Params) -> Finding | None:
    """The agent's new reply is (nearly) the same as one they already sent in this conversation.

    Every repeat counts: ``times`` is how often this reply has now been sent (earlier near-copies in the
    window, plus this one), and from the ``supervisor_repeats``-th repeat on the outcome is ``persistent``."""
    assert isinstance(p, CannedReplyParams)
    turn = ctx.latest
    if len(normalise_reply(turn.text)) < p.min_chars:
        return None
    earlier = ctx.agent_turns[:-1]
    best, ago, repeats = 0.0, 0, 0
    for back, old in enumerate(reversed(earlier), start=1):
        sim = reply_similarity(turn.text, old.text)
        repeats += sim >= p.min_similarity
        if sim > best:
            best, ago = sim, back
    if best < p.min_similarity:
        return None
    times = repeats + 1
    return Finding(
        f"{best:.0%} similar to your reply {_count(ago, 'agent turn')} ago (>= {p.min_similarity:.0%}); "
        f"sent {times} times in this conversation",
        "persistent" if repeats >= p.supervisor_repeats else None,
        fields={"similarity": f"{best:.0%}", "times": str(times)},
    )


# --------------------------------------------------------------------------------------------- use_name


class UseNameParams(Params):
    upset_threshold: float = Field(default=0.5, ge=0.0, le=1.0, description="anger or frustration")
    customer_turns: int = Field(default=2, ge=1, le=10)
    agent_replies: int = Field(default=2, ge=1, le=10, description="recent agent replies that must lack the name")


@_register("use_name", UseNameParams, watches={"agent", "any"})
def use_name(ctx: TurnContext, p: Params) -> Finding | None:
    """The customer is upset and the agent's recent replies never use their first name."""
    assert isinstance(p, UseNameParams)
    name = first_name(ctx.snapshot.meta.customer.name)
    if not name or not ctx.agent_turns:
        return None
    recent = ctx.recent_customer(p.customer_turns)
    peak = max((u for t in recent if (u := _upset(t)) is not None), default=0.0)
    if peak < p.upset_threshold:
        return None
    replies = ctx.recent_agent(p.agent_replies)
    if any(mentions_name(t.text, name) for t in replies):
        return None
    return Finding(
        f"customer anger/frustration peaked at {peak:.2f} over the last {_count(len(recent), 'customer turn')}; "
        + (
            "the agent's last reply does not"
            if len(replies) == 1
            else f"none of the agent's last {len(replies)} replies"
        )
        + " use the first name"
    )


# --------------------------------------------------------------------------------------------- escalate


class EscalateParams(Params):
    anger_threshold: float = Field(default=0.6, ge=0.0, le=1.0)
    sustained_turns: int = Field(default=3, ge=2, le=20, description="consecutive angry customer turns")
    rise_window: int = Field(default=3, ge=2, le=20)
    rise: float = Field(default=0.5, gt=0.0, le=1.0, description="increase of anger over the rise window")
    rise_floor: float = Field(default=0.7, ge=0.0, le=1.0, description="the new turn's anger must reach this")
    rise_min_turns: int = Field(default=3, ge=2, le=20, description="customer turns needed to call it a trend")
    abuse_window: int = Field(default=6, ge=1, le=20)
    abuse_repeat: int = Field(default=2, ge=2, le=20)


@_register(
    "escalate",
    EscalateParams,
    watches={"customer"},
    variants={"asked", "threat", "sustained", "rising", "abuse"},
    fields={"trigger"},
)
def escalate(ctx: TurnContext, p: Params) -> Finding | None:
    """Time to bring in a manager: asked for, threatened, anger sustained or rising steeply, repeated abuse.

    The trend triggers (``sustained``, ``rising``) are there to fire *before* the customer asks.
    """
    assert isinstance(p, EscalateParams)
    turn = ctx.latest
    feats = ctx.features(turn)
    if feats.manager_request:
        return Finding(f"customer asked for a manager ({feats.manager_request!r})", "asked", {"trigger": "asked"})
    if feats.threat:
        return Finding(f"customer threatens to leave or complain ({feats.threat!r})", "threat", {"trigger": "threat"})
    abuse_count = sum(abusive(ctx, t) for t in ctx.recent_customer(p.abuse_window))
    if abusive(ctx, turn) and abuse_count >= p.abuse_repeat:
        return Finding(
            f"{abuse_count} abusive customer turns in the last {p.abuse_window}", "abuse", {"trigger": "abuse"}
        )
    angers = [s.anger for s in ctx.recent_customer_scores(p.sustained_turns)]
    if len(angers) >= p.sustained_turns and min(angers) >= p.anger_threshold:
        trail = " -> ".join(f"{a:.2f}" for a in angers)
        return Finding(
            f"anger >= {p.anger_threshold:.2f} for {len(angers)} customer turns in a row ({trail})",
            "sustained",
            {"trigger": "sustained"},
        )
    window = [s.anger for s in ctx.recent_customer_scores(p.rise_window)]
    if len(window) >= p.rise_min_turns and window[-1] >= p.rise_floor and window[-1] - min(window[:-1]) >= p.rise:
        trail = " -> ".join(f"{a:.2f}" for a in window)
        return Finding(
            f"anger rising steeply ({trail}; +{window[-1] - min(window[:-1]):.2f} >= {p.rise:.2f})",
            "rising",
            {"trigger": "rising"},
        )
    return None


# ------------------------------------------------------------------------------------------- agent_tone


class AgentToneParams(LoudParams):
    negative_sentiment: float = Field(default=-0.6, ge=-1.0, le=0.0, description="VADER compound at or below ...")
    anger: float = Field(default=0.6, ge=0.0, le=1.0, description="... and the model's anger at least this")


@_register(
    "agent_tone",
    AgentToneParams,
    watches={"agent"},
    variants={"shouting", "dismissive", "rude", "negative"},
    fields={"phrase"},
)
def agent_tone(ctx: TurnContext, p: Params) -> Finding | None:
    """The agent's own turn is rude, dismissive, in capitals or strongly negative."""
    assert isinstance(p, AgentToneParams)
    turn = ctx.latest
    feats = ctx.features(turn)
    if feats.abuse.profane_words or feats.abuse.aimed:
        words = f"{_count(feats.abuse.profane_words, 'profane word')}, {_count(feats.abuse.insults, 'insult')}"
        return Finding(f"{words} in the reply", "rude")
    if feats.dismissive:
        phrase = original_span(turn.text, feats.dismissive)
        return Finding(f"dismissive phrase {phrase!r}", "dismissive", {"phrase": phrase})
    loud = _loud(ctx, turn, p)
    if loud is not None:
        return Finding(loud[0], "shouting")
    # An apology or condolence reads as negative to a lexicon ("so sorry for your loss"), yet is the right tone.
    s = turn.scores
    if s is None:
        return None  # an unscored reply: only its words are judged
    if s.sentiment <= p.negative_sentiment and s.anger >= p.anger and feats.apology is None:
        return Finding(f"reply sentiment {s.sentiment:+.2f}, anger {s.anger:.2f}", "negative")
    return None


# ------------------------------------------------------------------------------------------ de_escalated


class DeEscalatedParams(Params):
    peak: float = Field(default=0.6, ge=0.0, le=1.0, description="earlier anger/frustration at least this ...")
    calm: float = Field(default=0.3, ge=0.0, le=1.0, description="... and now at most this")
    window: int = Field(default=6, ge=2, le=20, description="customer turns searched for the peak")
    min_sentiment: float = Field(default=0.2, ge=-1.0, le=1.0)
    # A turn in capitals is not calm, whatever the lower-cased model reads ("PLZ FIX IT"):
    capitals_min_loud_words: int = Field(default=3, ge=1, description="capital words (acronyms excluded) ...")
    capitals_min_loud_ratio: float = Field(default=0.5, ge=0.0, le=1.0, description="... this share of letters")
    capitals_min_run: int = Field(default=3, ge=2, description="or this many capital words in a row")

    @model_validator(mode="after")
    def _calm_below_peak(self) -> DeEscalatedParams:
        if self.calm >= self.peak:
            raise ValueError("calm must be below peak")
        return self


@_register("de_escalated", DeEscalatedParams, watches={"customer"})
def de_escalated(ctx: TurnContext, p: Params) -> Finding | None:
    """An upset customer has calmed down: worth telling the agent and supervisor what worked."""
    assert isinstance(p, DeEscalatedParams)
    now = ctx.latest
    scores = ctx.recent_customer_scores(p.window)
    if now.scores is None or len(scores) < 2:
        return None  # the new turn was not scored, or there is no earlier scored turn to have calmed from
    levels = [max(s.anger, s.frustration) for s in scores]
    peak, level, sentiment = max(levels[:-1]), levels[-1], now.scores.sentiment
    if peak < p.peak or level > p.calm or sentiment < p.min_sentiment:
        return None
    loud = ctx.features(now).shouting
    capitals = loud.is_shouting(
        min_loud_words=p.capitals_min_loud_words, min_loud_ratio=p.capitals_min_loud_ratio, min_run=p.capitals_min_run
    )
    if capitals and loud.loud_words:
        return None  # "PLZ FIX IT" reads calm to a lower-cased model; capitals say otherwise
    feats = ctx.features(now)
    if feats.threat or feats.manager_request or abusive(ctx, now):
        return None  # "Don't bother. I'm cancelling my contract." reads calm to the model; it is not
    # Only the first calm turn after the peak: if an earlier turn since the peak was already calm, stay quiet.
    peak_idx = max(range(len(levels) - 1), key=lambda i: levels[i])
    if any(v <= p.calm for v in levels[peak_idx + 1 : -1]):
        return None
    return Finding(f"customer anger/frustration fell from {peak:.2f} to {level:.2f}; sentiment {sentiment:+.2f}")


# --------------------------------------------------------------------------------------------- follow_up


@_register("follow_up", Params, watches={"agent"}, fields={"promise"})
def follow_up(ctx: TurnContext, p: Params) -> Finding | None:
    """The agent promised to come back to the customer: a reminder to schedule and keep it."""
    promise = ctx.features(ctx.latest).promise
    if promise is None:
        return None
    return Finding(f"agent promised a follow-up ({promise!r})", fields={"promise": promise})


# ----------------------------------------------------------------------------------------- apology_loop


class ApologyLoopParams(Params):
    replies: int = Field(default=4, ge=2, le=20, description="recent agent replies looked at")
    apologies: int = Field(default=3, ge=2, le=20, description="how many of them apologise")


@_register("apology_loop", ApologyLoopParams, watches={"agent"})
def apology_loop(ctx: TurnContext, p: Params) -> Finding | None:
    """The agent keeps apologising: one sincere apology, then a concrete fix, works better."""
    assert isinstance(p, ApologyLoopParams)
    if ctx.features(ctx.latest).apology is None:
        return None
    replies = ctx.recent_agent(p.replies)
    count = sum(ctx.features(t).apology is not None for t in replies)
    if count < p.apologies:
        return None
    return Finding(f"{count} of the last {len(replies)} agent replies apologise (>= {p.apologies})")


# ---------------------------------------------------------------------------------------- repeat_contact


#: The customer's sentence is quoted whole in the nudge only when it is this short; otherwise nothing is quoted.
QUOTE_MAX_CHARS = 140


@_register("repeat_contact", Params, watches={"customer"}, variants={"quoted"}, fields={"quote"})
def repeat_contact(ctx: TurnContext, p: Params) -> Finding | None:
    """The customer says they have had to chase: asked several times, still waiting, nobody answers.

    Words, not scores: the model reads "I have asked FIVE times and nobody cares" as annoyed at most (the
    model card's examples), yet a customer who has to repeat themselves is the one about to
    give up on the company. The phrases are the pack's ``repeat_contact`` signal list. The nudge quotes the
    customer's whole sentence (``quoted``) when it is short, never a fragment of it.
    """
    phrase = ctx.features(ctx.latest).repeat_contact
    if phrase is None:
        return None
    reason = f"customer says they have had to chase ({phrase!r})"
    quote = sentence_with(ctx.latest.text, phrase)
    if quote is None or len(quote) > QUOTE_MAX_CHARS:
        return Finding(reason)
    return Finding(reason, "quoted", {"quote": quote})
