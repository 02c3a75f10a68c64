"""What a detector sees: the snapshot, plus text signals computed once per text and shared by all rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

from monitor.rules.schema import Signals
from monitor.schemas import ConversationSnapshot, TurnRecord, TurnScores
from monitor.text_signals import (
    AbuseSignal,
    ProfanityMatcher,
    ShoutingSignal,
    abuse,
    compile_phrases,
    find_phrase,
    first_name,
    shouting,
)


@dataclass(frozen=True, slots=True)
class TextFeatures:
    """Every text signal of one turn's text; computed lazily by :class:`SignalExtractor` and cached."""

    shouting: ShoutingSignal
    abuse: AbuseSignal
    manager_request: str | None
    threat: str | None
    dismissive: str | None
    promise: str | None
    apology: str | None
    repeat_contact: str | None


class SignalExtractor:
    """Turns a text into :class:`TextFeatures` using the pack's word lists.

    A pure function of the text for a given pack; the cache only avoids recomputing the features of the
    same earlier turns each time a new turn arrives (a conversation's window is re-read on every turn).
    """

    def __init__(self, signals: Signals) -> None:
        self.signals = signals
        self._acronyms = frozenset(a.upper() for a in signals.acronyms)
        self._profanity = ProfanityMatcher(signals.profanity.ignore_words, signals.profanity.extra_words)
        self._insults = frozenset(w.lower() for w in signals.insults)
        self._patterns: dict[str, re.Pattern[str] | None] = {
            name: compile_phrases(getattr(signals, name))
            for name in (
                "abuse_phrases",
                "manager_request",
                "threats",
                "dismissive",
                "promises",
                "apologies",
                "repeat_contact",
            )
        }
        self.features = lru_cache(maxsize=8192)(self._compute)

    def _compute(self, text: str) -> TextFeatures:
        signals = self.signals
        sig = abuse(text, self._profanity, self._insults, reach=signals.abuse_reach)
        if not sig.aimed and find_phrase(self._patterns["abuse_phrases"], text):
            sig = AbuseSignal(profane_words=sig.profane_words, insults=sig.insults + 1, aimed=True)
        return TextFeatures(
            shouting=shouting(
                text,
                acronyms=self._acronyms,
                max_acronym_len=signals.acronym_max_letters,
                run_words=signals.loud_run_words,
            ),
            abuse=sig,
            manager_request=find_phrase(self._patterns["manager_request"], text),
            threat=find_phrase(self._patterns["threats"], text),
            dismissive=find_phrase(self._patterns["dismissive"], text),
            promise=find_phrase(self._patterns["promises"], text),
            apology=find_phrase(self._patterns["apologies"], text),
            repeat_contact=find_phrase(self._patterns["repeat_contact"], text),
        )


@dataclass(frozen=True)
class TurnContext:
    """The snapshot being evaluated and helpers the detectors share."""

    snapshot: ConversationSnapshot
    extractor: SignalExtractor

    @property
    def latest(self) -> TurnRecord:
        return self.snapshot.turns[-1]

    def features(self, turn: TurnRecord) -> TextFeatures:
        return self.extractor.features(turn.text)

    @cached_property
    def customer_turns(self) -> list[TurnRecord]:
        """Customer turns in the window, oldest first."""
        return [t for t in self.snapshot.turns if t.role == "customer"]

    @cached_property
    def agent_turns(self) -> list[TurnRecord]:
        """Agent turns in the window, oldest first."""
        return [t for t in self.snapshot.turns if t.role == "agent"]

    def recent_customer(self, n: int) -> list[TurnRecord]:
        return self.customer_turns[-n:] if n > 0 else []

    def recent_agent(self, n: int) -> list[TurnRecord]:
        return self.agent_turns[-n:] if n > 0 else []

    @cached_property
    def scored_customer_turns(self) -> list[TurnRecord]:
        """Customer turns the model read, oldest first: score windows ("three angry turns in a row") skip the
        unscored ones, which are neither angry nor calm, rather than being broken or padded by them."""
        return [t for t in self.customer_turns if t.scores is not None]

    def recent_customer_scores(self, n: int) -> list[TurnScores]:
        """The scores of the last ``n`` customer turns the model read, oldest first."""
        return [t.scores for t in self.scored_customer_turns[-n:] if t.scores is not None] if n > 0 else []

    @cached_property
    def name_fields(self) -> dict[str, str]:
        """Name fields a nudge may use; a missing name reads as a neutral phrase, never as an empty gap."""
        meta = self.snapshot.meta
        customer_first = first_name(meta.customer.name)
        agent_first = first_name(meta.agent.name)
        return {
            "customer_first_name": customer_first or "the customer",
            "customer_name": meta.customer.name.strip() or "the customer",
            "agent_first_name": agent_first or "there",
            "agent_name": meta.agent.name.strip() or "the agent",
        }
