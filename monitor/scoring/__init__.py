"""The scoring stage: text in, :class:`~monitor.schemas.TurnScores` out.

Every scorer speaks the small :class:`Scorer` protocol (``score(texts) -> list[TurnScores]``), so the
pipeline and the rule tests can run on a deterministic scorer while the service loads the trained
transformer (``monitor.emotion_model``). Scorers are synchronous and CPU-bound on purpose: the service
calls them from a bounded executor, never on the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from monitor.schemas import TurnScores


@runtime_checkable
class Scorer(Protocol):
    """Anything that scores a batch of texts; one result per text, in order."""

    name: str

    def score(self, texts: Sequence[str]) -> list[TurnScores]: ...


class VaderSentiment:
    """VADER's compound score: the fast lexicon signal every scorer reports as ``sentiment``."""

    def __init__(self) -> None:
        self._analyzer = SentimentIntensityAnalyzer()

    def compound(self, text: str) -> float:
        return float(self._analyzer.polarity_scores(text)["compound"])


class VaderScorer:
    """A real but crude scorer built from VADER alone, for when no trained model is wanted (``--scorer vader``).

    VADER knows polarity, not emotions, so anger and frustration both come from how negative the text is;
    the transformer scorer separates them. Thresholds documented by VADER: compound <= -0.05 is negative.
    """

    name = "vader"

    def __init__(self) -> None:
        self._vader = VaderSentiment()

    def score(self, texts: Sequence[str]) -> list[TurnScores]:
        out: list[TurnScores] = []
        for text in texts:
            compound = self._vader.compound(text)
            negativity = max(0.0, -compound)
            out.append(TurnScores(anger=negativity, frustration=negativity, sentiment=compound, emotions={}))
        return out
