"""Experiment, not part of the recipe: does GoEmotions itself tie shouting or "nobody cares" to anger?

The issue's example "I have asked FIVE times and nobody cares" should score high anger. The encoder is
uncased, so capitals never reach it, and a model learns only what its labels say. This prints, from the
train split alone, how often comments are in the anger group (any of anger, annoyance, disgust) by the number
of loud words they hold (capital words that are not acronyms, as the rule pack's ``shouting`` counts them),
and for a few support-chat phrases, with the labels of the first matches.

    .venv/bin/python models/experiments/training_data_signals.py --data ../shared/data/goemotions
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

from monitor.emotion_model import ANGER_GROUP, GOEMOTIONS_LABELS
from monitor.text_signals import shouting
from monitor.training import group_target, read_split

PHRASES = {
    "nobody/no one cares": r"\b(nobody|no one) cares\b",
    "asked ... times": r"\basked\b.*\btimes\b",
    "still no / still not": r"\bstill (no|not)\b",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--show", type=int, default=10, help="phrase matches to print with their labels")
    args = parser.parse_args(argv)
    train = read_split(args.data, "train")
    angry = group_target(train.labels, ANGER_GROUP) == 1
    print(f"train comments: {len(angry)}, in the anger group: {angry.mean():.3f}")
    by_count: dict[str, list[bool]] = {}
    for text, is_angry in zip(train.texts, angry, strict=True):
        loud = shouting(text).loud_words  # the rule pack's measure: capital words that are not acronyms
        by_count.setdefault("3+" if loud >= 3 else str(loud), []).append(bool(is_angry))
    for key in sorted(by_count):
        rows = by_count[key]
        print(f"loud words {key:>2}: {len(rows):6d} comments, anger group {sum(rows) / len(rows):.3f}")
    for name, pattern in PHRASES.items():
        hits = [i for i, text in enumerate(train.texts) if re.search(pattern, text, re.IGNORECASE)]
        share = sum(bool(angry[i]) for i in hits) / max(1, len(hits))
        print(f"{name!r}: {len(hits)} comments, anger group {share:.3f}")
        for i in hits[: args.show]:
            labels = [GOEMOTIONS_LABELS[j] for j in range(len(GOEMOTIONS_LABELS)) if train.labels[i, j] > 0.5]
            print(f"    {'+'.join(labels):30s} {train.texts[i][:90]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
