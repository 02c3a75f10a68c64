"""Experiment, not part of the recipe: which inputs should the ``anger`` and ``frustration`` combiners read?

Dev split only (the test split is never read here): 5-fold cross-validation of the logistic-regression
combiner for each candidate feature set, reporting held-out log-loss (calibration and ranking together) and
F1 at the threshold chosen on the training folds. The recipe's choice in ``monitor/training.py`` is the one
this prints; the model card quotes its output.

    .venv/bin/python models/experiments/combiner_features.py --data ../shared/data/goemotions \\
        --artifact models/artifact     # about 1 minute per artifact; repeat --artifact to compare runs
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from monitor.emotion_model import ANGER_GROUP, FRUSTRATION_GROUP, load_artifact, load_tokenizer
from monitor.scoring import VaderSentiment
from monitor.training import (
    ANGER_FEATURES,
    FRUSTRATION_FEATURES,
    Split,
    best_thresholds,
    combiner_features,
    group_target,
    predict_logits,
    read_split,
)

# what the combiners read before the noisy-OR: each member's logit with its own weight
MEMBER_ANGER_FEATURES: tuple[str, ...] = tuple(f"logit:{name}" for name in ANGER_GROUP)
MEMBER_FRUSTRATION_FEATURES: tuple[str, ...] = (*(f"logit:{name}" for name in FRUSTRATION_GROUP), "vader_negativity")


def cross_validate(x: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 13) -> tuple[float, float]:
    """Held-out log-loss and F1 (threshold picked on the training folds) of a logistic regression."""
    probs = np.zeros(len(y))
    predictions = np.zeros(len(y), dtype=bool)
    for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        reg = LogisticRegression(C=1.0, max_iter=1000).fit(x[train_idx], y[train_idx])
        fit_probs = reg.predict_proba(x[train_idx])[:, 1]
        threshold = best_thresholds(fit_probs[:, None], y[train_idx][:, None].astype(np.float32), ["g"])["g"]
        probs[test_idx] = reg.predict_proba(x[test_idx])[:, 1]
        predictions[test_idx] = probs[test_idx] >= threshold
    tp = float(np.sum(predictions & (y == 1)))
    f1 = 2 * tp / max(1.0, float(predictions.sum() + y.sum()))
    return float(log_loss(y, probs)), f1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--artifact", type=Path, required=True, action="append", help="repeat to compare runs")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    tokenizer = load_tokenizer()
    dev = read_split(args.data, "dev")
    vader = VaderSentiment()
    compounds = [vader.compound(t) for t in dev.texts]
    for artifact in args.artifact:
        print(f"== {artifact}")
        compare(artifact, dev, compounds, tokenizer)
    return 0


def compare(artifact: Path, dev: Split, compounds: Sequence[float], tokenizer: Any) -> None:
    model, meta = load_artifact(artifact)
    ids = tokenizer(dev.texts, truncation=True, max_length=meta.max_length)["input_ids"]
    logits = predict_logits(model, ids, int(tokenizer.pad_token_id), progress="dev")
    candidates: dict[str, dict[str, tuple[str, ...]]] = {
        "anger": {"member logits": MEMBER_ANGER_FEATURES, "noisy-OR (recipe)": ANGER_FEATURES},
        "frustration": {
            "member logits + vader": MEMBER_FRUSTRATION_FEATURES,
            "noisy-OR + vader (recipe)": FRUSTRATION_FEATURES,
        },
    }
    if "anger_group" in meta.group_outputs:
        candidates["anger"]["group logit"] = ("logit:anger_group",)
        candidates["anger"]["group + member logits"] = ("logit:anger_group", *ANGER_FEATURES)
    if "frustration_group" in meta.group_outputs:
        candidates["frustration"]["group logit + vader"] = ("logit:frustration_group", "vader_negativity")
        candidates["frustration"]["group + member logits + vader"] = ("logit:frustration_group", *FRUSTRATION_FEATURES)
    groups = {"anger": ANGER_GROUP, "frustration": FRUSTRATION_GROUP}
    for score, sets in candidates.items():
        y = group_target(dev.labels, groups[score])
        for name, features in sets.items():
            x = combiner_features(logits, compounds, features, meta.outputs)
            loss, f1 = cross_validate(x, y)
            print(f"{score:12s} {name:32s} dev 5-fold log-loss {loss:.4f}  F1 {f1:.4f}")


if __name__ == "__main__":
    raise SystemExit(main())
