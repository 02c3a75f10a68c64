"""VADER: the fast lexicon signal every scorer reports as ``sentiment``, and a scorer made from it alone."""

from __future__ import annotations

from collections.abc import Sequence

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from monitor.schemas import TurnScores

#: VADER reads at most this many characters of a turn. Its cost grows faster than linearly with the text (an
#: 8,000-emoji turn took 19 s on the one scoring thread, stalling every connection); a chat turn's tone is
#: in its first thousand characters. ``bench/bench_turn_work.py`` times the worst inputs against the budget.
MAX_CHARS = 1000


class VaderSentiment:
    """VADER's compound score in [-1, 1]; VADER documents compound <= -0.05 as negative."""

    def __init__(self) -> None:
        self._analyzer = SentimentIntensityAnalyzer()

    def compound(self, text: str) -> float:
        """The compound score of the text's first :data:`MAX_CHARS` characters."""
        return float(self._analyzer.polarity_scores(text[:MAX_CHARS])["compound"])


class VaderScorer:
    """A real but crude scorer built from VADER alone, for when no trained model is wanted (``--scorer vader``).

    VADER knows polarity, not emotions, so anger and frustration both come from how negative the text is;
    the transformer scorer separates them.
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
