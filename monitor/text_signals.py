"""Text signals the rules read besides the model's scores: shouting, profanity and abuse, near-duplicate
replies, use of a name, and phrase matches.

They are plain functions of a string (and a few parameters from the rule pack), so the rule engine stays
pure and each signal can be tested on its own. Two well-kept libraries do the heavy lifting:

* the profanity lexicon is the word list shipped with ``better-profanity`` (about 900 entries, leetspeak
  forms included); we match it ourselves on normalised tokens because the library's own ``censor`` walks
  every variant of every word for every message (tens of milliseconds a turn) and cannot see through
  ``sh!t``, ``fuuuck`` or ``f u c k``. The rule pack removes the entries that are not vulgar in a support
  chat (``god``, ``kill``, ``fat`` ...) with its ``ignore_words``;
* ``rapidfuzz`` measures how close two replies are, after a normalisation that ignores case, punctuation,
  @mentions, links and British/American spelling (``apologise`` = ``apologize``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from rapidfuzz import fuzz

# --------------------------------------------------------------------------------------------- shouting

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?|\S*\d\S*", re.UNICODE)
_PUNCT_RUN = re.compile(r"[!?]{3,}")


@dataclass(frozen=True, slots=True)
class ShoutingSignal:
    """How loud a text reads: capital words that are not acronyms, and runs of ``!!!``/``???``."""

    loud_words: int
    loud_ratio: float  # letters in loud words / all letters in words
    longest_loud_run: int  # consecutive loud words
    punctuation_runs: int

    def is_shouting(self, *, min_loud_words: int, min_loud_ratio: float, min_run: int) -> bool:
        """Loud when enough of the text is capitals, or a run of capital words, or ``!!!``-style runs."""
        by_ratio = self.loud_words >= min_loud_words and self.loud_ratio >= min_loud_ratio
        return by_ratio or self.longest_loud_run >= min_run or self.punctuation_runs > 0


def shouting(
    text: str, *, acronyms: frozenset[str] = frozenset(), max_acronym_len: int = 4, run_words: int = 3
) -> ShoutingSignal:
    """Measure shouting while leaving acronyms and codes alone.

    A word is *loud* when it is all capitals and at least two letters long, holds no digit (``DSM 7.2``,
    ``AB12345`` are codes) and is not a known acronym. Short capital words (up to ``max_acronym_len`` letters:
    ``SSD``, ``BIOS``) count as loud only inside a run of ``run_words`` or more capital words, which is how a
    shouted sentence looks and an acronym in a normal sentence does not. Both numbers come from the rule pack
    (``signals.acronym_max_letters``, ``signals.loud_run_words``).
    """
    tokens = _WORD.findall(text)
    letters_total = 0
    caps_flags: list[bool] = []
    caps_letters: list[int] = []
    for token in tokens:
        letters = sum(ch.isalpha() for ch in token)
        letters_total += letters
        is_caps = (
            letters >= 2
            and not any(ch.isdigit() for ch in token)
            and token.upper() == token
            and token.lower() != token
            and token.strip("'’").upper() not in acronyms
        )
        caps_flags.append(is_caps)
        caps_letters.append(letters if is_caps else 0)

    loud = [False] * len(tokens)
    run_start = 0
    longest = 0
    for i in range(len(tokens) + 1):
        if i < len(tokens) and caps_flags[i]:
            continue
        run_len = i - run_start
        for j in range(run_start, i):
            loud[j] = run_len >= run_words or caps_letters[j] > max_acronym_len
        longest = max(longest, run_len if run_len >= run_words else 0)
        run_start = i + 1
    loud_letters = sum(n for n, flag in zip(caps_letters, loud, strict=True) if flag)
    return ShoutingSignal(
        loud_words=sum(loud),
        loud_ratio=loud_letters / letters_total if letters_total else 0.0,
        longest_loud_run=longest,
        punctuation_runs=len(_PUNCT_RUN.findall(text)),
    )


# -------------------------------------------------------------------------------------------- profanity

_LEET = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "!": "i",
        "|": "i",
        "3": "e",
        "4": "a",
        "@": "a",
        "$": "s",
        "5": "s",
        "7": "t",
        "+": "t",
        "€": "e",
    }
)
# Single letters separated by spaces, dots, dashes or underscores: "f u c k", "s.h.i.t".
_SPACED = re.compile(r"(?<![\w*])((?:[A-Za-z*][ .\-_]){2,}[A-Za-z*])(?![\w*])")
_TOKEN = re.compile(r"[\w*@$!|+€'’-]+", re.UNICODE)
_REPEATS = re.compile(r"(.)\1{2,}")


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=1)
def profanity_lexicon() -> frozenset[str]:
    """The ``better-profanity`` word list, lower-cased (multi-word entries joined without spaces)."""
    text = resources.files("better_profanity").joinpath("profanity_wordlist.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().lower().replace(" ", "") for line in text.splitlines() if line.strip())


class ProfanityMatcher:
    """Finds lexicon words in a text, seeing through leetspeak, masks, stretched letters and spacing.

    Built once per rule pack (the ignore list is pack data) and then a pure function of the text.
    """

    def __init__(self, ignore_words: Iterable[str] = (), extra_words: Iterable[str] = ()) -> None:
        ignore = {w.lower().replace(" ", "") for w in ignore_words}
        words = (set(profanity_lexicon()) | {w.lower().replace(" ", "") for w in extra_words}) - ignore
        self._words = frozenset(words)
        self._collapsed = frozenset(_REPEATS.sub(r"\1", w) for w in words)
        self._by_length: dict[int, list[str]] = {}
        for word in words:
            if word.isalpha():
                self._by_length.setdefault(len(word), []).append(word)

    def _token_is_profane(self, raw: str) -> bool:
        token = raw.lower().strip("'’-!|")  # a trailing "!" is punctuation, an inner one a leet "i"
        if len(token) < 2 or not any(ch.isalpha() for ch in token):
            return False  # "7162782" is a number, not leetspeak
        if token in self._words:
            return True
        plain = token.translate(_LEET)
        if "*" not in plain:
            plain = re.sub(r"[^a-z]", "", plain)
            return plain in self._words or _REPEATS.sub(r"\1", plain) in self._collapsed
        # A masked word ("f*ck", "f***", "sh*t"): each * stands for one letter of a lexicon word.
        # "**word**" is markdown emphasis, not a mask.
        if plain.startswith("*") and plain.endswith("*"):
            return self._token_is_profane(plain.strip("*")) if plain.strip("*") else False
        if not any(ch.isalpha() for ch in plain):
            return False
        pattern = re.compile("".join("[a-z]" if ch == "*" else re.escape(ch) for ch in plain))
        return any(pattern.fullmatch(w) for w in self._by_length.get(len(plain), ()))

    def find(self, text: str) -> list[tuple[int, str]]:
        """Profane tokens as ``(token_index, token)`` over :func:`tokens` of the same text."""
        return [(i, tok) for i, tok in enumerate(tokens(text)) if self._token_is_profane(tok)]


def tokens(text: str) -> list[str]:
    """Word tokens without links and @handles, spaced-out letters joined ("f u c k" -> "fuck"), accents removed."""
    plain = _MENTION.sub(" ", _URL.sub(" ", _strip_accents(text)))  # links and handles are not words
    joined = _SPACED.sub(lambda m: re.sub(r"[ .\-_]", "", m.group(1)), plain)
    return _TOKEN.findall(joined)


@dataclass(frozen=True, slots=True)
class AbuseSignal:
    """Profanity in a text, and whether it (or an insult) is aimed at the person reading it."""

    profane_words: int
    insults: int
    aimed: bool


_TARGETS = frozenset({"you", "u", "ya", "you're", "youre", "ur", "yourself", "thou"})
_DISMISS = frozenset({"off"})  # "f*** off", "piss off"


def abuse(text: str, matcher: ProfanityMatcher, insults: frozenset[str], *, reach: int = 4) -> AbuseSignal:
    """Count profane words and insults, and tell whether they are aimed at the reader.

    Aimed means a profane word right before "you"/"off" ("fuck you", "f*** off"), or a profane word or an
    insult up to ``reach`` words after "you" ("you fucking idiot", "you guys are useless"). Swearing at a
    thing ("this fucking router") or an insult before "you" ("useless app, can you help") is not aimed.
    ``reach`` comes from the rule pack (``signals.abuse_reach``).
    """
    toks = tokens(text)
    lowered = [t.lower().replace("’", "'").strip("'-!|*$@+") for t in toks]
    profane = {i for i, _ in matcher.find(text)}
    insult_idx = {i for i, t in enumerate(lowered) if t in insults}
    targets = [i for i, t in enumerate(lowered) if t in _TARGETS]
    before = {i - 1 for i, t in enumerate(lowered) if t in _TARGETS or t in _DISMISS}
    aimed = bool(profane & before) or any(0 < h - t <= reach for h in profane | insult_idx for t in targets)
    return AbuseSignal(profane_words=len(profane), insults=len(insult_idx), aimed=aimed)


# ------------------------------------------------------------------------------------- near-duplicates

_MENTION = re.compile(r"(?<!\w)[@#]\w+")
_URL = re.compile(r"https?://\S+|www\.\S+")
_SPELLING = [
    (re.compile(r"(?<=[a-z])is(e|es|ed|ing)\b"), r"iz\1"),  # apologise -> apologize
    (re.compile(r"(?<=[a-z])isation"), "ization"),
    (re.compile(r"(?<=[a-z])our\b"), "or"),  # colour -> color (applied to both sides, so harmless)
    (re.compile(r"(?<=[a-z])yse\b"), "yze"),  # analyse -> analyze
]
_NON_WORD = re.compile(r"[^\w\s]+")
_SPACES = re.compile(r"\s+")


def normalise_reply(text: str) -> str:
    """Reduce a reply to what a reader compares: words only, no case, mentions, links or spelling variant."""
    out = _URL.sub(" ", text)
    out = _MENTION.sub(" ", out)
    out = _strip_accents(out).lower().replace("’", "'")
    for pattern, repl in _SPELLING:
        out = pattern.sub(repl, out)
    out = _NON_WORD.sub(" ", out)
    return _SPACES.sub(" ", out).strip()


def reply_similarity(a: str, b: str) -> float:
    """Similarity of two replies in [0, 1] after :func:`normalise_reply` (rapidfuzz's normalised ratio)."""
    return fuzz.ratio(normalise_reply(a), normalise_reply(b)) / 100.0


# ----------------------------------------------------------------------------------------- names, phrases


def fold(text: str) -> str:
    """Case- and accent-insensitive form of a text, for matching names and phrases."""
    return _strip_accents(text).casefold().replace("’", "'")


def first_name(full_name: str) -> str:
    """The first word of a display name ("Zoë Martin" -> "Zoë"); empty when there is none."""
    parts = full_name.strip().split()
    return parts[0] if parts else ""


def mentions_name(text: str, name: str) -> bool:
    """Whether ``name`` appears as a whole word in ``text``, ignoring case and accents."""
    folded_name = fold(name).strip()
    if not folded_name:
        return False
    return re.search(rf"(?<!\w){re.escape(folded_name)}(?!\w)", fold(text)) is not None


def compile_phrases(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """One case- and accent-insensitive pattern for a list of phrases.

    Phrases match whole words; ``word*`` matches any word starting with ``word`` and a lone ``*`` any one word
    ("cancelling my *" matches "cancelling my subscription").

    Phrases come from the rule pack, so a user can add "speak to your boss" without touching code.
    """
    parts = []
    for phrase in phrases:
        escaped = re.escape(fold(phrase).strip())
        body = escaped.replace(r"\ \*", r"\s+\w+").replace(r"\*", r"\w*").replace(r"\ ", r"\s+")
        parts.append(body)
    if not parts:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)")


def find_phrase(pattern: re.Pattern[str] | None, text: str) -> str | None:
    """The first phrase of ``pattern`` found in ``text`` (folded), or ``None``."""
    if pattern is None:
        return None
    match = pattern.search(fold(text))
    return " ".join(match.group(0).split()) if match else None


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")


def _folded_phrase(phrase: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in fold(phrase).split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)")


def original_span(text: str, phrase: str) -> str:
    """``phrase`` (as :func:`find_phrase` gives it, folded) as the writer typed it, or ``phrase`` itself when
    folding changed the text's length and the span cannot be mapped back."""
    folded = fold(text)
    match = _folded_phrase(phrase).search(folded)
    if match is None or len(folded) != len(text):
        return phrase
    return " ".join(text[match.start() : match.end()].split())


def sentence_with(text: str, phrase: str) -> str | None:
    """The whole sentence of ``text`` that contains ``phrase``, as written, for a nudge to quote: the customer's
    own words, never a fragment cut at a phrase boundary. ``None`` when no sentence holds it whole."""
    pattern = _folded_phrase(phrase)
    for sentence in _SENTENCE_END.split(text):
        if pattern.search(fold(sentence)):
            return " ".join(sentence.split())
    return None
