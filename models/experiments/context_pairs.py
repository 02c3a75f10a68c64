"""Experiment: does the previous agent turn help? ConvAbuse turns as text pairs (user turn, previous agent turn).

    .venv/bin/python models/experiments/context_pairs.py --data ../shared/data --out models/runs/context \
        --checkpoints models/runs/context_ck

The shipped recipe exactly (``calmwatch train``), except that ConvAbuse rows, train and dev, are tokenized as
``[CLS] user turn [SEP] previous agent turn [SEP]`` (the only corpus with context). Compare the ``epoch 2``
dev line it prints with the shipped run's (``calmwatch.json`` ``training.history``): ship context only if
ConvAbuse dev ROC-AUC rises without the other corpora falling. Result and decision: ``README.md`` here.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import monitor.training.recipe as recipe
from monitor.training.corpora import LabelledSet, convabuse_is_abusive


def convabuse_contexts(data_dir: Path, split: str) -> list[str]:
    """The previous agent turn of every row ``read_convabuse`` keeps, in its order."""
    name = {"train": "train", "dev": "valid", "test": "test"}[split]
    out = []
    with (data_dir / "convabuse" / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if convabuse_is_abusive(row) is None or not (row.get("user") or "").strip():
                continue
            out.append((row.get("prev_agent") or "").strip())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--checkpoints", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    plain_encode = recipe.encode

    def encode_with_context(
        sets: Sequence[LabelledSet], tokenizer: Any, max_length: int, use_emphasis: bool
    ) -> recipe.Encoded:
        data = plain_encode(sets, tokenizer, max_length, use_emphasis)
        offset = 0
        for s in sets:
            if s.corpus == "convabuse":
                contexts = convabuse_contexts(args.data, s.split)
                assert len(contexts) == len(s.texts)
                pairs = tokenizer(s.texts, contexts, truncation="longest_first", max_length=max_length)["input_ids"]
                data.token_ids[offset : offset + len(s)] = pairs
            offset += len(s)
        return data

    recipe.encode = encode_with_context  # type: ignore[assignment]
    config = recipe.TrainConfig(
        data_dir=args.data, out_dir=args.out, checkpoint_dir=args.checkpoints, threads=args.threads, export=False
    )
    recipe.train(config)


if __name__ == "__main__":
    main()
