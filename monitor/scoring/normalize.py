"""What the model reads of a turn: as written, or without @handles and links (an artifact says which).

Why the option: complaints-xci is the only training corpus written on Twitter, and 98 % of its complaints (91 % of
its angry tweets) address a brand by @handle, against 74 % of its other tweets; no calm corpus has a handle at all,
so a network trained on raw text can learn "a tweet at a brand is angry". Dropping handles and links from every
text in training and serving (``calmwatch train --strip-handles``) is one answer; the shipped artifact takes the
other, raw text with calm queries given handles too (``monitor.training.augment.address_calm_queries``), which
keeps more of complaints-xci (models/experiments). The rules, VADER and everything stored always see the whole
text.

An artifact records the normalisation it was trained with (``calmwatch.json``, ``text_normalization``; "" is raw
text), and the scorer applies that one, so an artifact is always served the text it was trained on.
"""

from __future__ import annotations

import re

#: Handles and links dropped (``--strip-handles``); written into the artifacts trained with it.
HANDLES_AND_LINKS = "handles-links/1"
NORMALIZATIONS: tuple[str, ...] = ("", HANDLES_AND_LINKS)

#: A handle: "@" + word characters, not inside an e-mail address (that is the redactor's business).
HANDLE = re.compile(r"(?<![\w.])@\w{1,30}")
# Links with a scheme or a www. prefix; "https: //host" (a space after the colon) occurs in the real chats too.
_LINK = re.compile(r"\b(?:https?:\s?//|www\.)\S+", re.IGNORECASE)
_SPACES = re.compile(r"[ \t]{2,}")


def model_text(text: str, normalization: str) -> str:
    """``text`` as the network should read it under ``normalization`` ("" = unchanged).

    A turn that is nothing but handles and links keeps its original text, so the network never reads an empty
    string (it would score the padding)."""
    if not normalization:
        return text
    if normalization != HANDLES_AND_LINKS:
        raise ValueError(f"unknown text normalization {normalization!r}; expected one of {NORMALIZATIONS}")
    stripped = _SPACES.sub(" ", _LINK.sub(" ", HANDLE.sub(" ", text))).strip()
    return stripped or text
