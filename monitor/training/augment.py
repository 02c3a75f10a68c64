"""Training-text augmentation: the anger and frustration words the corpora hardly use, and calm text at a brand.

Word swaps (:func:`augment`).

Why: the five corpora name anger with a handful of words. Among the 75k training rows, "angry" occurs 95 times,
"pissed" 62, "furious" 10, and "livid" once (a Reddit comment labelled calm); "fuming" and "irate" never. The frozen
word embeddings of such words (``liv ##id``) are no closer to "furious" than to "happy", so a customer who writes
"I'm livid" scored as calm. Each training text that uses a word of a group below gets copies with another word of
the same group swapped in (case kept) and the same labels, so the network learns that the words of a group behave
alike in every corpus and context where one of them occurs, including negated and calm ones ("not angry at all").

The groups are our own word lists, not taken from any corpus. :data:`HELD_OUT` are words of the same meaning kept
out of every group on purpose: ``models/evaluate.py`` scores them in fixed sentences beside the group words, which
measures whether the swap teaches the meaning or only the listed words (model card, Evaluation).

Calm queries addressed to a brand (:func:`address_calm_queries`). complaints-xci is the only corpus written on
Twitter: 98 % of its complaints and 91 % of its angry tweets address someone by @handle, against 74 % of its
other tweets, and no calm corpus has a handle at all. A network trained on that took "addressed to a brand" for
anger: the v2 artifact scored 30 % of the first turns of the real support conversations (tweets to brands) over
0.6 anger, and 8 % once their handles were removed. So each Banking77 training query gets a handle drawn from
complaints-xci's own training tweets, as often as those carry one, and stays calm: a handle is no longer anger
by itself, while within complaints-xci it still says what it says. (Dropping handles from every text instead
was tried: it costs complaints-xci 0.04 of complaint ROC-AUC and is no better on chat text; models/experiments.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from monitor.scoring.normalize import HANDLE
from monitor.training.corpora import LabelledSet

#: Words that stand for one another, by group. Only one-word adjectives and participles, so a swap keeps the
#: sentence grammatical ("I am X", "so X with you").
SWAP_GROUPS: dict[str, tuple[str, ...]] = {
    "anger": ("angry", "furious", "livid", "fuming", "enraged", "infuriated", "outraged", "pissed"),
    "frustration": ("frustrated", "annoyed", "irritated", "exasperated", "aggravated", "fed-up"),
}
#: Same-meaning words deliberately left out of :data:`SWAP_GROUPS`: the generalisation probe.
HELD_OUT: dict[str, tuple[str, ...]] = {"anger": ("irate", "seething", "incensed"), "frustration": ("vexed",)}
#: Copies made of each text that uses a group word (each with a different substitute).
COPIES = 4


def _word_pattern(word: str) -> str:
    """How a group word is found: "fed-up" also as "fed up", "pissed" with its "off"."""
    if word == "pissed":
        return r"pissed(?:\s+off)?"
    return re.escape(word).replace("\\-", "[- ]")


_PATTERNS = {
    group: re.compile(r"\b(?:" + "|".join(_word_pattern(w) for w in words) + r")\b", re.IGNORECASE)
    for group, words in SWAP_GROUPS.items()
}


def _canonical(found: str) -> str:
    word = re.sub(r"\s+", "-", found.lower())
    return "pissed" if word.startswith("pissed") else word


def _same_case(word: str, like: str) -> str:
    if like.isupper() and len(like) > 1:
        return word.upper()
    if like[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _replace_all(pattern: re.Pattern[str], text: str, new: str) -> str:
    return pattern.sub(lambda m: _same_case(new, m.group(0)), text)


def swaps(text: str, rng: np.random.Generator, copies: int = COPIES) -> list[str]:
    """Up to ``copies`` variants of ``text``, each with every word of one group replaced by one other word of it.

    Returns ``[]`` when the text uses no group word. The first group found is swapped (a text rarely uses two)."""
    for group, pattern in _PATTERNS.items():
        found = pattern.findall(text)
        if not found:
            continue
        used = {_canonical(w) for w in found}
        others = [w for w in SWAP_GROUPS[group] if w not in used]
        picks = rng.choice(len(others), size=min(copies, len(others)), replace=False)
        return [_replace_all(pattern, text, others[int(i)]) for i in picks]
    return []


def augment(sets: Sequence[LabelledSet], seed: int, copies: int = COPIES) -> tuple[list[LabelledSet], int]:
    """Each set with its swapped copies appended (same labels and mask as the source row); and how many were added.

    Only for training sets: dev and test stay as the corpora wrote them."""
    if copies <= 0:
        return list(sets), 0
    rng = np.random.default_rng(seed)
    out: list[LabelledSet] = []
    added = 0
    for s in sets:
        texts: list[str] = []
        rows: list[int] = []
        for i, text in enumerate(s.texts):
            for variant in swaps(text, rng, copies):
                texts.append(variant)
                rows.append(i)
        added += len(texts)
        index = np.asarray(rows, dtype=int)
        out.append(
            LabelledSet(
                s.corpus,
                s.split,
                [*s.texts, *texts],
                np.concatenate([s.targets, s.targets[index]]) if rows else s.targets,
                np.concatenate([s.mask, s.mask[index]]) if rows else s.mask,
            )
        )
    return out, added


def address_calm_queries(sets: Sequence[LabelledSet], seed: int) -> list[LabelledSet]:
    """The sets with each Banking77 training text prefixed, at complaints-xci's rate, by one of its handles.

    Needs complaints-xci among ``sets`` (the handles and the rate come from it); without it, nothing changes."""
    xci = next((s for s in sets if s.corpus == "complaints-xci"), None)
    handles = [h for t in xci.texts for h in HANDLE.findall(t)] if xci is not None else []
    if not handles or xci is None:
        return list(sets)
    rate = float(np.mean([bool(HANDLE.search(t)) for t in xci.texts]))
    rng = np.random.default_rng(seed)
    out = []
    for s in sets:
        if s.corpus == "banking77":
            texts = [f"{handles[rng.integers(len(handles))]} {t}" if rng.random() < rate else t for t in s.texts]
            s = LabelledSet(s.corpus, s.split, texts, s.targets, s.mask)
        out.append(s)
    return out
