"""Deterministic stand-ins used by pipeline and service tests (the real model has its own marked tests)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from monitor.schemas import TurnScores
from monitor.scoring import VaderSentiment

_ANGRY = re.compile(r"\b(furious|angry|ridiculous|unacceptable|useless|hate|worst|disgusting)\b", re.I)
_FRUSTRATED = re.compile(r"\b(still|again|nobody|waiting|weeks|third time|no refund|never)\b", re.I)


class KeywordScorer:
    """Anger and frustration from word lists, sentiment from VADER: predictable numbers for rule tests.

    Each angry word adds 0.45 to anger (so two make a turn clearly angry), each frustration cue 0.3.
    """

    name = "keywords"

    def __init__(self) -> None:
        self._vader = VaderSentiment()
        self.calls: list[int] = []  # batch sizes seen, so tests can check batching

    def score(self, texts: Sequence[str]) -> list[TurnScores]:
        self.calls.append(len(texts))
        out = []
        for text in texts:
            anger = min(1.0, 0.05 + 0.45 * len(_ANGRY.findall(text)))
            frustration = min(1.0, 0.05 + 0.3 * len(_FRUSTRATED.findall(text)))
            out.append(
                TurnScores(
                    anger=anger,
                    frustration=frustration,
                    sentiment=self._vader.compound(text),
                    emotions={"anger": anger, "neutral": 1.0 - anger},
                )
            )
        return out
