"""Which language a turn is in: the model was trained on English only, so only English turns are scored.

A wrong "not English" costs an English turn its anger and frustration alerts; a wrong "English" costs nothing
that was not already lost (the model reads an angry Spanish turn as calm either way). So the detector says
"not English" only when it is sure: the top language is another one, English has under 1 % of the probability,
and there are at least three words to go on; anything shorter or in doubt is English. Mentions, links and
case are removed first (capitals and ``@handles`` are no language). py3langid (a maintained fork of langid.py,
97 languages, naive Bayes over byte n-grams) does the detecting; ``bench/bench_language.py`` measures it on
short chat turns and the figures are in ``docs/performance.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

#: ISO 639-1 of the language the model reads.
MODEL_LANGUAGE = "en"
#: "Not English" needs English below this share of the detector's probability ...
MAX_ENGLISH_PROBABILITY = 0.01
#: ... and at least this many words of two letters or more (after mentions and links are removed).
MIN_WORDS = 3

_NOISE = re.compile(r"https?://\S+|www\.\S+|[@#]\w+")
_WORD = re.compile(r"[^\W\d_]{2,}")


@dataclass(frozen=True, slots=True)
class Language:
    """A turn's language as the pipeline uses it: its ISO 639-1 code and whether the model can read it."""

    code: str
    scored: bool


@cache
def _identifier() -> Any:
    """The py3langid model, loaded once per process (about 0.3 s) and only if detection is on."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def language_detector() -> Callable[[str], Language]:
    """:func:`detect_language` with its model loaded, so the first turn does not pay for the load."""
    _identifier()
    return detect_language


def detect_language(text: str) -> Language:
    """The turn's language, or English (scored) whenever the text is too short or the detector is unsure."""
    cleaned = _NOISE.sub(" ", text).lower()
    if len(_WORD.findall(cleaned)) < MIN_WORDS:
        return Language(MODEL_LANGUAGE, scored=True)
    identifier = _identifier()
    top, _ = identifier.classify(cleaned)
    if top == MODEL_LANGUAGE:
        return Language(MODEL_LANGUAGE, scored=True)
    english = dict(identifier.rank(cleaned)).get(MODEL_LANGUAGE, 0.0)
    if english >= MAX_ENGLISH_PROBABILITY:
        return Language(MODEL_LANGUAGE, scored=True)
    return Language(str(top), scored=False)
