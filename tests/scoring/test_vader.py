"""VADER: the lexicon signal beside the model, and the VADER-only scorer."""

from __future__ import annotations

from monitor.scoring.vader import VaderScorer, VaderSentiment


def test_compound_has_the_documented_sign() -> None:
    """A thank-you is positive and an insult negative (VADER: compound <= -0.05 is negative)."""
    vader = VaderSentiment()
    assert vader.compound("Thank you so much, that is great!") > 0.05
    assert vader.compound("You are useless and I hate this") < -0.05


def test_vader_scorer_reads_negativity_as_anger_and_frustration() -> None:
    """The VADER-only scorer gives both scores as max(0, -compound), no emotions, in input order."""
    calm, upset = VaderScorer().score(["thanks, all good", "this is terrible and awful"])
    assert calm.anger == 0.0 and upset.anger == upset.frustration > 0.5
    assert upset.emotions == {} and VaderScorer().score([]) == []
