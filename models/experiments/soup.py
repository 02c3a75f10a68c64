"""Experiment, not part of the recipe: do the retrainings we already have add up to a better single model?

Dev split only (test is never read here). For the artifacts named, it prints dev macro-F1 (thresholds tuned on
dev, as the recipe reports it) and the anger-group F1 of the recipe's anger combiner under 5-fold CV on dev, for

- each artifact alone,
- the ensemble that averages their 28 label logits (costs one forward pass per member at serving time, so it is
  only an upper bound on what a single model distilled from them could reach),
- the uniform "model soup" (Wortsman et al., 2022): one network whose weights are the mean of the members'
  weights, which costs nothing at serving time. Members fine-tuned from the same base start usually stay in one
  basin, where the averaged weights land near the ensemble's quality.

    .venv/bin/python models/experiments/soup.py --data ../shared/data/goemotions \\
        --artifact models/artifact --artifact models/runs/e4        # about 30 s per artifact

``--out DIR`` also writes the soup as an artifact, with thresholds and combiners fitted on dev exactly as the
recipe does (``monitor.training.fit_on_dev``), for ``models/evaluate.py --artifact DIR``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from monitor.emotion_model import (
    ANGER_GROUP,
    MeanPoolClassifier,
    build_from_base,
    load_artifact,
    load_tokenizer,
    save_artifact,
)
from monitor.training import (
    ANGER_FEATURES,
    best_thresholds,
    combiner_features,
    fit_on_dev,
    group_target,
    macro_f1,
    predict_logits,
    read_split,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the experiments folder is not a package
from combiner_features import cross_validate


def soup(models: Sequence[MeanPoolClassifier], n_labels: int) -> MeanPoolClassifier:
    """The uniform average of the members' weights; a head with extra (group) outputs contributes its label rows."""
    averaged = build_from_base(n_labels)
    state = averaged.state_dict()
    member_states = [m.state_dict() for m in models]
    for name in state:
        tensors = [member[name].float() for member in member_states]
        if name.startswith("head."):
            tensors = [t[:n_labels] for t in tensors]
        state[name] = torch.stack(tensors).mean(dim=0)
    averaged.load_state_dict(state)
    averaged.eval()
    return averaged


def report(name: str, logits: np.ndarray, labels: np.ndarray, n_labels: int) -> None:
    probs = 1 / (1 + np.exp(-logits[:, :n_labels]))
    names = [str(i) for i in range(n_labels)]
    tuned = macro_f1(probs, labels, list(best_thresholds(probs, labels, names).values()))
    y = group_target(labels, ANGER_GROUP)
    loss, f1 = cross_validate(combiner_features(logits, [0.0] * len(logits), ANGER_FEATURES), y)
    print(f"{name:40s} dev macro-F1 (tuned) {tuned:.4f}  anger-group 5-fold F1 {f1:.4f}  log-loss {loss:.4f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--artifact", type=Path, action="append", required=True, help="repeat for each member")
    parser.add_argument("--out", type=Path, help="write the soup here as an artifact")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)

    tokenizer = load_tokenizer()
    dev = read_split(args.data, "dev")
    ids = tokenizer(dev.texts, truncation=True, max_length=64)["input_ids"]
    pad = int(tokenizer.pad_token_id)
    n_labels = dev.labels.shape[1]
    members, member_logits = [], []
    for path in args.artifact:
        model, meta = load_artifact(path)
        members.append(model)
        member_logits.append(predict_logits(model, ids, pad)[:, :n_labels])
        report(str(path), member_logits[-1], dev.labels, n_labels)
    if len(members) > 1:
        report("ensemble (mean of logits)", np.mean(member_logits, axis=0), dev.labels, n_labels)
        souped = soup(members, n_labels)
        report("soup (mean of weights)", predict_logits(souped, ids, pad), dev.labels, n_labels)
        if args.out:
            meta = fit_on_dev(souped, meta.labels, {}, dev, ids, pad)
            meta.training["soup_of"] = [str(path) for path in args.artifact]
            save_artifact(souped, meta, args.out)
            print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
