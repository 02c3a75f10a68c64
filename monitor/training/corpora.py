"""The training corpora, their splits and how each one's labels map onto the model's outputs.

The network has 30 outputs: GoEmotions' 28 emotions, then ``chat_anger`` and ``chat_frustration``, the two
scores Calmwatch exists for. Each corpus labels only some of them; the rest are *masked* (mask 0: no loss), so
a film subtitle never teaches the network anything about ``gratitude``, and a Reddit comment is not called
calm in a support chat just because nobody labelled it so. The mapping, corpus by corpus:

============== ==================================================== ===================================================
corpus          chat_anger = 1 when                                  chat_frustration = 1 when
============== ==================================================== ===================================================
goemotions      anger, annoyance or disgust among its labels         anger or annoyance among its labels
complaints-xci  ``emotion == anger``                                 a complaint with Severity >= 2 (reproach)
xed             Plutchik anger (1) among its labels; neutral lines 0 masked (no such notion in film dialogue)
convabuse       most annotators rated the turn abusive (-1..-3)      masked (abuse is not a service complaint)
banking77       never (calm service queries)                         never: even "my card is not working" is a plain
                                                                     report of a problem, which is not frustration
============== ==================================================== ===================================================

The 28 emotions are labelled by GoEmotions only. Splits: GoEmotions, ConvAbuse and Banking77's test set come with
their own; complaints-xci, xed and Banking77's train file are cut by a hash of the text (70/15/15 or 90/10), so a
text always lands in the same split whatever the file order, and duplicates never straddle two splits.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: GoEmotions' 28 labels, in the order of ``labels.txt`` (label id = index).
GOEMOTIONS_LABELS: tuple[str, ...] = (
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion", "curiosity",
    "desire", "disappointment", "disapproval", "disgust", "embarrassment", "excitement", "fear",
    "gratitude", "grief", "joy", "love", "nervousness", "optimism", "pride", "realization", "relief",
    "remorse", "sadness", "surprise", "neutral",
)  # fmt: skip
#: The two outputs trained for support chat, after the 28 emotions.
CHAT_OUTPUTS: tuple[str, ...] = ("chat_anger", "chat_frustration")
OUTPUTS: tuple[str, ...] = (*GOEMOTIONS_LABELS, *CHAT_OUTPUTS)
ANGER_COLUMN = OUTPUTS.index("chat_anger")
FRUSTRATION_COLUMN = OUTPUTS.index("chat_frustration")
#: GoEmotions labels that count as chat anger / chat frustration (table above).
GOEMOTIONS_ANGER: tuple[str, ...] = ("anger", "annoyance", "disgust")
GOEMOTIONS_FRUSTRATION: tuple[str, ...] = ("anger", "annoyance")
CORPORA: tuple[str, ...] = ("goemotions", "complaints-xci", "xed", "convabuse", "banking77")
SPLITS: tuple[str, ...] = ("train", "dev", "test")


@dataclass
class LabelledSet:
    """Texts of one corpus split with a ``(n, 30)`` target matrix and a same-shaped 0/1 mask (1 = labelled)."""

    corpus: str
    split: str
    texts: list[str]
    targets: np.ndarray
    mask: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    def column(self, output: str) -> tuple[np.ndarray, np.ndarray]:
        """The rows labelled for ``output`` and their 0/1 labels: ``(row indices, labels)``."""
        j = OUTPUTS.index(output)
        rows = np.flatnonzero(self.mask[:, j] > 0)
        return rows, self.targets[rows, j]


def hash_split(text: str, cuts: Sequence[int]) -> str:
    """``train``/``dev``/``test`` by a stable hash of the text: bucket < cuts[0] is train, < cuts[1] dev, else test."""
    bucket = int(hashlib.sha1(text.strip().lower().encode("utf-8")).hexdigest()[:8], 16) % 100
    return "train" if bucket < cuts[0] else "dev" if bucket < cuts[1] else "test"


def _build(corpus: str, split: str, rows: list[tuple[str, dict[str, float]]]) -> LabelledSet:
    targets = np.zeros((len(rows), len(OUTPUTS)), dtype=np.float32)
    mask = np.zeros_like(targets)
    for i, (_, labels) in enumerate(rows):
        for name, value in labels.items():
            j = OUTPUTS.index(name)
            targets[i, j], mask[i, j] = value, 1.0
    return LabelledSet(corpus, split, [text for text, _ in rows], targets, mask)


def read_goemotions(data_dir: Path, split: str) -> LabelledSet:
    """``<split>.tsv`` (``dev`` is GoEmotions' own dev): all 28 emotions labelled, plus the chat mapping."""
    labels = tuple(line.strip() for line in (data_dir / "labels.txt").read_text().splitlines() if line.strip())
    if labels != GOEMOTIONS_LABELS:
        raise ValueError(f"{data_dir / 'labels.txt'}: labels differ from GoEmotions' 28 labels")
    rows: list[tuple[str, dict[str, float]]] = []
    with (data_dir / f"{split}.tsv").open(encoding="utf-8") as handle:
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 2:
                continue
            present = {GOEMOTIONS_LABELS[int(x)] for x in parts[1].split(",") if x}
            out = {name: float(name in present) for name in GOEMOTIONS_LABELS}
            out["chat_anger"] = float(bool(present & set(GOEMOTIONS_ANGER)))
            out["chat_frustration"] = float(bool(present & set(GOEMOTIONS_FRUSTRATION)))
            rows.append((parts[0], out))
    return _build("goemotions", split, rows)


def complaint_frustration(label: str, severity: str) -> float:
    """A complaint with reproach (Severity >= 2: disapproval, accusation, blame) is frustrated; a complaint without
    reproach ("my parcel is late") is not, nor is anything else. Why: in a support chat nearly every first turn
    reports a problem; frustration is what deserves a nudge, and a plain report does not (with every complaint as
    frustrated, a trial model flagged 62 % of the customer turns of the real support conversations)."""
    if label.strip() != "1":
        return 0.0
    return 1.0 if int(float(severity or 0)) >= 2 else 0.0


def read_complaints(data_dir: Path, split: str) -> LabelledSet:
    """complaints-xci ``train.csv`` cut 70/15/15 by hash (the corpus ships one file)."""
    rows: list[tuple[str, dict[str, float]]] = []
    with (data_dir / "train.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            text = row["tweet"]
            if hash_split(text, (70, 85)) != split:
                continue
            rows.append(
                (
                    text,
                    {
                        "chat_anger": float(row["emotion"].strip().lower() == "anger"),
                        "chat_frustration": complaint_frustration(row["label"], row["Severity"]),
                    },
                )
            )
    return _build("complaints-xci", split, rows)


def read_xed(data_dir: Path, split: str) -> LabelledSet:
    """XED's annotated lines (anger = Plutchik 1) and its neutral lines, cut 70/15/15 by hash."""
    rows: list[tuple[str, dict[str, float]]] = []
    with (data_dir / "en-annotated.tsv").open(encoding="utf-8") as handle:
        for line in handle:
            text, _, labels = line.rstrip("\n").rpartition("\t")
            if not text or hash_split(text, (70, 85)) != split:
                continue
            ids = {x.strip() for x in labels.split(",")}
            rows.append((text, {"chat_anger": float("1" in ids)}))
    with (data_dir / "neu_en.txt").open(encoding="utf-8") as handle:
        for line in handle:
            _, _, text = line.rstrip("\n").partition("\t")
            if text and hash_split(text, (70, 85)) == split:
                rows.append((text, {"chat_anger": 0.0}))
    return _build("xed", split, rows)


def convabuse_is_abusive(row: dict[str, str]) -> bool | None:
    """The majority of the annotators who rated the turn: abusive when more than half said -1, -2 or -3."""
    votes: list[bool] = []
    for key, value in row.items():
        if key.startswith("Annotator") and "_is_abuse." in key and value.strip() == "1":
            votes.append(int(key.rsplit(".", 1)[1]) < 0)
    if not votes:
        return None
    return sum(votes) * 2 > len(votes)


def read_convabuse(data_dir: Path, split: str) -> LabelledSet:
    """ConvAbuse's own splits (``valid`` is our dev); the user turn, labelled abusive by majority."""
    name = {"train": "train", "dev": "valid", "test": "test"}[split]
    rows: list[tuple[str, dict[str, float]]] = []
    with (data_dir / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            abusive = convabuse_is_abusive(row)
            text = (row.get("user") or "").strip()
            if abusive is None or not text:
                continue
            rows.append((text, {"chat_anger": float(abusive)}))
    return _build("convabuse", split, rows)


def read_banking(data_dir: Path, split: str) -> LabelledSet:
    """Banking77: ``test.csv`` is the test split; ``train.csv`` is cut 90/10 into train and dev by hash."""
    rows: list[tuple[str, dict[str, float]]] = []
    path = data_dir / ("test.csv" if split == "test" else "train.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            text = row["text"]
            if split != "test" and hash_split(text, (90, 100)) != split:
                continue
            rows.append((text, {"chat_anger": 0.0, "chat_frustration": 0.0}))
    return _build("banking77", split, rows)


_READERS = {
    "goemotions": read_goemotions,
    "complaints-xci": read_complaints,
    "xed": read_xed,
    "convabuse": read_convabuse,
    "banking77": read_banking,
}


def read_corpus(data_root: Path, corpus: str, split: str) -> LabelledSet:
    """One corpus split from ``data_root/<corpus>/``; a missing folder or file names the path."""
    if corpus not in _READERS:
        raise ValueError(f"unknown corpus {corpus!r}; expected one of {', '.join(CORPORA)}")
    folder = data_root / corpus
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: corpus folder is missing (expected {corpus} under {data_root})")
    return _READERS[corpus](folder, split)
