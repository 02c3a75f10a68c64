"""Emphasis the encoder cannot see: shouting, "!!!", letter stretching and repeated-contact phrasing.

all-MiniLM-L6-v2's tokenizer lowercases and splits punctuation, so "NOW!!!" reaches the encoder as "now ! ! !"
and "sooooo" as word pieces that look like typos. These few numbers go into the classification head beside the
pooled sentence vector (``MeanPoolClassifier``), so training learns how much each is worth in each register.
They are pure Python and cheap, computed the same way in training and serving. The rule pack keeps its own
shouting detection (``monitor/text_signals.py``); this is the model's view, not the rules'.
"""

from __future__ import annotations

import re

#: Names of the features, in the order :func:`emphasis_features` returns them (stored in the artifact).
EMPHASIS_FEATURES: tuple[str, ...] = ("shouted_words", "exclamations", "stretched_letters", "repeat_contact")

_WORD = re.compile(r"[A-Za-z][A-Za-z']*")
_STRETCH = re.compile(r"([A-Za-z])\1{2,}")
_NUMBER_WORDS = r"(?:\d+|two|three|four|five|six|seven|eight|nine|ten|several|multiple|many|numerous|countless|a few)"
_REPEAT_CONTACT = re.compile(
    r"\b(?:asked|told|called|rang|phoned|contacted|emailed|e-mailed|messaged|tweeted|dm'?d|chased|requested|tried)"
    rf"\b[^.!?]{{0,40}}?\b{_NUMBER_WORDS}\s+times\b"
    r"|\b(?:second|third|fourth|fifth|sixth|\d+(?:st|nd|rd|th))\s+(?:time|call|email|message|tweet)\b"
    r"|\b(?:no\s?one|nobody|noone)\s+(?:cares|answers|responds|replies|helps|listens|bothers|gets back|calls)\b"
    r"|\b(?:again and again|yet again|over and over|time and again|time after time)\b",
    re.IGNORECASE,
)


def emphasis_features(text: str) -> list[float]:
    """Four values in [0, 1] (see :data:`EMPHASIS_FEATURES`), saturating so one long rant does not dominate.

    * ``shouted_words``: words of three or more letters written all in capitals, up to 3 (3 -> 1.0). Acronyms
      count too; training sees them in calm text as well and weighs them accordingly.
    * ``exclamations``: ``!`` characters, up to 3.
    * ``stretched_letters``: 1.0 when a letter repeats three or more times ("sooooo", "nooo").
    * ``repeat_contact``: 1.0 when the text says the writer had to chase ("asked five times", "third time",
      "nobody answers", "yet again").
    """
    shouted = sum(1 for word in _WORD.findall(text) if len(word) >= 3 and word.isupper())
    return [
        min(shouted, 3) / 3.0,
        min(text.count("!"), 3) / 3.0,
        1.0 if _STRETCH.search(text) else 0.0,
        1.0 if _REPEAT_CONTACT.search(text) else 0.0,
    ]
