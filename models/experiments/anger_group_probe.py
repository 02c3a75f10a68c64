"""Experiment, not part of the recipe: would a dedicated anger-group output on the committed encoder close the gap?

A logistic regression on the fine-tuned encoder's pooled features (what the 28-way head reads), trained on the
GoEmotions train split for the anger-group target (any of anger, annoyance, disgust), its threshold chosen on dev,
the test split read once for the C fixed in advance (0.1). The model card quotes its output.

    .venv/bin/python models/experiments/anger_group_probe.py --data ../shared/data/goemotions   # ~4 minutes
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, log_loss, roc_auc_score

from monitor.emotion_model import ANGER_GROUP, MeanPoolClassifier, load_artifact, load_tokenizer
from monitor.training import best_thresholds, collate, group_target, read_split

ROOT = Path(__file__).resolve().parents[2]
TEST_C = 0.1


def pooled_features(model: MeanPoolClassifier, tokenizer: object, texts: list[str]) -> np.ndarray:
    """Masked mean-pooled encoder output, the head's input, in input order."""
    ids = tokenizer(texts, truncation=True, max_length=64)["input_ids"]  # type: ignore[operator]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = np.zeros((len(ids), model.head.in_features), np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), 128):
            idx = order[start : start + 128]
            x, mask = collate([ids[i] for i in idx], int(tokenizer.pad_token_id))  # type: ignore[attr-defined]
            out[idx] = model.pool(x, mask).numpy()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(2)
    model, _ = load_artifact(ROOT / "models" / "artifact")
    model.eval()
    tokenizer = load_tokenizer()
    splits = {name: read_split(args.data, name) for name in ("train", "dev", "test")}
    x = {name: pooled_features(model, tokenizer, split.texts) for name, split in splits.items()}
    y = {name: group_target(split.labels, ANGER_GROUP) for name, split in splits.items()}
    for c in (0.01, 0.1, 1.0):
        probe = LogisticRegression(C=c, max_iter=3000).fit(x["train"], y["train"])
        p_dev = probe.predict_proba(x["dev"])[:, 1]
        t = best_thresholds(p_dev[:, None], y["dev"][:, None], ["group"])["group"]  # the recipe's own grid
        f1 = f1_score(y["dev"], p_dev >= t)
        print(f"C={c}: dev F1 {f1:.4f} at {t:.2f}, dev AUC {roc_auc_score(y['dev'], p_dev):.4f}, "
              f"dev log-loss {log_loss(y['dev'], p_dev):.4f}")  # fmt: skip
        if c == TEST_C:
            p_test = probe.predict_proba(x["test"])[:, 1]
            print(f"  test F1 at the dev threshold {f1_score(y['test'], p_test >= t):.4f}, "
                  f"test AUC {roc_auc_score(y['test'], p_test):.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
