"""Language detection: sure answers only, so an English turn is never left unscored by a doubtful guess."""

from __future__ import annotations

import pytest

from monitor.language import Language, detect_language


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Esto es una vergüenza, quiero mi dinero ya.", "es"),
        ("Das ist eine Frechheit, ich will sofort mein Geld zurück.", "de"),
        ("C'est scandaleux, je veux être remboursé tout de suite.", "fr"),
        ("Il router perde la connessione ogni sera.", "it"),
        ("Já pedi cinco vezes e ninguém se importa", "pt"),
        ("Dit is schandalig, ik wil nu mijn geld terug.", "nl"),
    ],
)
def test_other_languages_are_left_unscored(text: str, code: str) -> None:
    """A chat turn in one of the main European languages is recognised and marked not scored."""
    assert detect_language(text) == Language(code, scored=False)


@pytest.mark.parametrize(
    "text",
    [
        "ok thanks",  # too short to say
        "ok danke",  # too short to say, even though it is German
        "Hello? Anyone there?",
        "HEY @Photoshop STOP CRASHING WHEN I TRY TO ADD TEXT TO A PROJECT",  # capitals and a handle
        "why was I charged twice",
        "I have asked FIVE times and nobody cares",
        "see https://example.com/orders/88412 #refund @support",
    ],
)
def test_english_and_doubtful_turns_are_scored(text: str) -> None:
    """English, and anything too short or too unsure to call, goes to the model as English."""
    assert detect_language(text) == Language("en", scored=True)
