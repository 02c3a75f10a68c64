"""Emphasis features: shouting, exclamations, stretched letters and chasing, saturating in [0, 1]."""

from __future__ import annotations

import pytest

from monitor.scoring.emphasis import EMPHASIS_FEATURES, emphasis_features


def _named(text: str) -> dict[str, float]:
    return dict(zip(EMPHASIS_FEATURES, emphasis_features(text), strict=True))


def test_plain_calm_text_has_no_emphasis() -> None:
    """A calm sentence in sentence case gives all zeros."""
    assert emphasis_features("Could you check where my parcel is, please?") == [0.0, 0.0, 0.0, 0.0]


def test_shouting_counts_capital_words_of_three_letters_up_to_three() -> None:
    """One loud word is a third, three or more saturate; one- and two-letter capitals ("I", "OK") do not count."""
    assert _named("I have asked FIVE times")["shouted_words"] == pytest.approx(1 / 3)
    assert _named("WHERE IS MY REFUND NOW")["shouted_words"] == 1.0
    assert _named("I said OK")["shouted_words"] == 0.0


def test_exclamations_and_stretching() -> None:
    """ "!!!" saturates the exclamation feature; a letter three times in a row is stretching, "too" is not."""
    features = _named("sooooo annoying!!!")
    assert features["exclamations"] == 1.0 and features["stretched_letters"] == 1.0
    assert _named("too good!")["stretched_letters"] == 0.0
    assert _named("too good!")["exclamations"] == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    "text",
    [
        "I have asked FIVE times and nobody cares",
        "This is the third time I am calling about this",
        "I emailed you 4 times last week",
        "No one answers the phone",
        "broken yet again",
    ],
)
def test_repeat_contact_phrasing(text: str) -> None:
    """Saying you had to chase sets repeat_contact."""
    assert _named(text)["repeat_contact"] == 1.0


@pytest.mark.parametrize("text", ["Thanks, that worked the first time", "I asked a question", "still here?"])
def test_not_repeat_contact(text: str) -> None:
    """Ordinary turns that mention asking or time do not."""
    assert _named(text)["repeat_contact"] == 0.0
