"""What the model reads of a turn: the text without @handles and links.

Why: complaints-xci is the only training corpus written on Twitter, and 98 % of its complaints (91 % of its
angry tweets) address a brand by @handle, against 74 % of its other tweets; no calm corpus has a handle at all.
A model trained on raw text learned "a tweet at a brand is angry": with the v2 artifact, removing the handles from
the first turns of the 525 real support conversations moved the share with anger over 0.6 from 30 % to 8 %
(model card, Training data). A handle or a link says where a message was sent, not how its writer feels, so
training and serving both drop them before tokenizing. The rules, VADER and everything stored still see the
whole text.

An artifact records the normalisation it was trained with (``calmwatch.json``, ``text_normalization``), so an
artifact trained on raw text keeps being served raw text.
"""

from __future__ import annotations

import re

#: The normalisation this version applies; written into artifacts trained with it.
HANDLES_AND_LINKS = "handles-links/1"
NORMALIZATIONS: tuple[str, ...] = ("", HANDLES_AND_LINKS)

#: A handle: "@" + word characters, not inside an e-mail address (that is the redactor's business).
HANDLE = re.compile(r"(?<![\w.])@\w{1,30}")
# Links with a scheme or a www. prefix; "https: //host" (a space after the colon) occurs in the real chats too.
_LINK = re.compile(r"\b(?:https?:\s?//|www\.)\S+", re.IGNORECASE)
_SPACES = re.compile(r"[ \t]{2,}")


def model_text(text: str, normalization: str = HANDLES_AND_LINKS) -> str:
    """``text`` as the network should read it under ``normalization`` ("" = unchanged).

    A turn that is nothing but handles and links keeps its original text, so the network never reads an empty
    string (it would score the padding)."""
    if not normalization:
        return text
    if normalization != HANDLES_AND_LINKS:
        raise ValueError(f"unknown text normalization {normalization!r}; expected one of {NORMALIZATIONS}")
    stripped = _SPACES.sub(" ", _LINK.sub(" ", HANDLE.sub(" ", text))).strip()
    return stripped or text
