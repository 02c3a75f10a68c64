"""Evaluate the committed artifact: every number in ``models/README.md`` comes from this script.

    .venv/bin/python models/evaluate.py --data ../shared/data/goemotions

Reads the GoEmotions dev and test splits and ``models/eval/customer_service.jsonl``; writes
``models/eval/metrics.json`` and ``models/eval/reliability.png``. Nothing here is tuned on the test split:
thresholds and calibration come from the artifact (fitted on dev by ``calmwatch train``); the only thing
chosen here is the decision threshold on the ``anger`` score for the anger-group F1, and it is chosen on dev.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
from monitor.emotion_model import (
    ANGER_GROUP,
    DEFAULT_ARTIFACT_DIR,
    FRUSTRATION_GROUP,
    GOEMOTIONS_LABELS,
    EmotionScorer,
    LogisticCombiner,
    load_artifact,
    load_tokenizer,
)
from monitor.scoring import VaderSentiment
from monitor.training import (
    best_thresholds,
    group_target,
    macro_f1,
    predict_logits,
    read_split,
)

HERE = Path(__file__).resolve().parent
CUSTOMER_SERVICE_SET = HERE / "eval" / "customer_service.jsonl"


def combine(
    combiner: LogisticCombiner, logits: np.ndarray, compounds: Sequence[float], outputs: Sequence[str]
) -> np.ndarray:
    """A combiner applied to many rows: the service's own ``LogisticCombiner.__call__``, row by row."""
    rows = np.asarray(logits, dtype=np.float64).tolist()
    return np.array([combiner(dict(zip(outputs, row, strict=True)), c) for row, c in zip(rows, compounds, strict=True)])


def f1(pred: np.ndarray, truth: np.ndarray) -> float:
    tp = float(np.sum(pred & truth))
    return 2 * tp / max(1.0, float(pred.sum() + truth.sum()))


def bootstrap_f1_interval(
    pred: np.ndarray, truth: np.ndarray, resamples: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of F1 over the test rows, the decisions held fixed.

    A target such as "anger-group F1 >= 0.60" is read against a test split with 588 positives; this says how
    far a figure could move with another draw of comments of the same kind, before reading a difference.
    """
    rng = np.random.default_rng(seed)
    pred, truth = np.asarray(pred, dtype=bool), np.asarray(truth, dtype=bool)
    values = [f1(pred[rows], truth[rows]) for rows in rng.integers(0, len(truth), size=(resamples, len(truth)))]
    low, high = np.percentile(values, [2.5, 97.5])
    return round(float(low), 4), round(float(high), 4)


def reliability(prob: np.ndarray, truth: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Equal-width reliability bins, expected calibration error and Brier score."""
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(prob, edges[1:-1]), 0, bins - 1)
    rows = []
    ece = 0.0
    for b in range(bins):
        mask = idx == b
        if not mask.any():
            continue
        mean_p, frac = float(prob[mask].mean()), float(truth[mask].mean())
        ece += mask.mean() * abs(mean_p - frac)
        rows.append({"bin": b, "n": int(mask.sum()), "mean_predicted": round(mean_p, 4), "observed": round(frac, 4)})
    return {"ece": round(float(ece), 4), "brier": round(float(np.mean((prob - truth) ** 2)), 4), "bins": rows}


def plot_reliability(curves: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    for name, curve in curves.items():
        xs = [b["mean_predicted"] for b in curve["bins"]]
        ys = [b["observed"] for b in curve["bins"]]
        ax.plot(xs, ys, marker="o", label=f"{name} (ECE {curve['ece']:.3f})")
    ax.set_xlabel("predicted probability (10 equal-width bins)")
    ax.set_ylabel("observed frequency")
    ax.set_title("Calibration on the GoEmotions test split")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def auc(scores: np.ndarray, truth: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return round(float(roc_auc_score(truth, scores)), 4)


def customer_service(scorer: EmotionScorer, path: Path) -> dict[str, Any]:
    """Our own labelled customer-service turns: does the model rank anger/frustration better than VADER?"""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    scores = scorer.score([r["text"] for r in rows])
    anger = np.array([s.anger for s in scores])
    frustration = np.array([s.frustration for s in scores])
    vader_neg = np.array([max(0.0, -s.sentiment) for s in scores])
    vader_rank = -np.array([s.sentiment for s in scores])  # ranking by negativity, ties broken by positivity
    y_anger = np.array([r["anger"] for r in rows]) == 1
    y_frus = np.array([r["frustration"] for r in rows]) == 1
    kinds = sorted({r["kind"] for r in rows})
    per_kind = {}
    for kind in kinds:
        mask = np.array([r["kind"] == kind for r in rows])
        per_kind[kind] = {
            "n": int(mask.sum()),
            "mean_anger": round(float(anger[mask].mean()), 3),
            "mean_frustration": round(float(frustration[mask].mean()), 3),
            "share_anger_over_0.5": round(float((anger[mask] > 0.5).mean()), 3),
            "share_frustration_over_0.5": round(float((frustration[mask] > 0.5).mean()), 3),
            "mean_vader_compound": round(float(-vader_rank[mask].mean()), 3),
        }
    calm = np.array([r["kind"] in {"neutral", "thanks", "calm_hard"} for r in rows])
    polite = np.array([r["kind"] == "polite_complaint" for r in rows])
    hard = calm | polite
    return {
        "n": len(rows),
        "anger_auc": {"model": auc(anger, y_anger), "vader": auc(vader_rank, y_anger)},
        "frustration_auc": {
            "model_frustration": auc(frustration, y_frus),
            "model_anger": auc(anger, y_frus),
            "vader": auc(vader_rank, y_frus),
        },
        "polite_complaints_vs_calm_auc": {
            "model_frustration": auc(frustration[hard], polite[hard]),
            "vader": auc(vader_rank[hard], polite[hard]),
        },
        "accuracy_at_0.5": {
            "anger": round(float(((anger > 0.5) == y_anger).mean()), 3),
            "frustration": round(float(((frustration > 0.5) == y_frus).mean()), 3),
            "vader_negative_as_frustration": round(float(((vader_neg >= 0.05) == y_frus).mean()), 3),
        },
        "f1_at_0.5": {
            "anger": round(f1(anger > 0.5, y_anger), 3),
            "frustration": round(f1(frustration > 0.5, y_frus), 3),
        },
        "per_kind": per_kind,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="GoEmotions directory")
    parser.add_argument("--artifact", type=Path, default=DEFAULT_ARTIFACT_DIR)
    parser.add_argument("--out", type=Path, default=HERE / "eval")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    started = time.monotonic()
    model, meta = load_artifact(args.artifact)
    tokenizer = load_tokenizer()
    pad_id = int(tokenizer.pad_token_id)
    vader = VaderSentiment()
    result: dict[str, Any] = {
        "artifact": str(args.artifact),
        "max_length": meta.max_length,
        "group_outputs": list(meta.group_outputs),
    }
    splits = {}
    for name in ("dev", "test"):
        split = read_split(args.data, name)
        ids = tokenizer(split.texts, truncation=True, max_length=meta.max_length)["input_ids"]
        logits = predict_logits(model, ids, pad_id, progress=name)
        compounds = [vader.compound(t) for t in split.texts]
        splits[name] = (split, logits, compounds)

    dev, dev_logits, dev_comp = splits["dev"]
    test, test_logits, test_comp = splits["test"]
    n_labels = len(GOEMOTIONS_LABELS)  # columns after these are group outputs (meta.group_outputs)
    test_probs = 1 / (1 + np.exp(-test_logits[:, :n_labels]))
    thresholds = [meta.thresholds[label] for label in GOEMOTIONS_LABELS]
    per_label = {}
    for j, label in enumerate(GOEMOTIONS_LABELS):
        y = test.labels[:, j] > 0.5
        per_label[label] = {"f1": round(f1(test_probs[:, j] >= thresholds[j], y), 4), "support": int(y.sum())}
    result["test_macro_f1"] = round(macro_f1(test_probs, test.labels, thresholds), 4)
    result["test_macro_f1_at_0.5"] = round(macro_f1(test_probs, test.labels, [0.5] * 28), 4)
    dev_probs = 1 / (1 + np.exp(-dev_logits[:, :n_labels]))
    result["dev_macro_f1"] = round(macro_f1(dev_probs, dev.labels, thresholds), 4)
    result["per_label_test"] = per_label

    curves = {}
    for name, combiner, group in (
        ("anger", meta.anger, ANGER_GROUP),
        ("frustration", meta.frustration, FRUSTRATION_GROUP),
    ):
        dev_score = combine(combiner, dev_logits, dev_comp, meta.outputs)
        test_score = combine(combiner, test_logits, test_comp, meta.outputs)
        y_dev, y_test = group_target(dev.labels, group) == 1, group_target(test.labels, group) == 1
        dev_threshold = best_thresholds(dev_score[:, None], y_dev[:, None].astype(np.float32), [name])[name]
        # the group as the per-label decisions see it: any member over its own dev threshold
        cols = [GOEMOTIONS_LABELS.index(g) for g in group]
        any_member = (test_probs[:, cols] >= np.asarray([thresholds[c] for c in cols])).any(axis=1)
        result[f"{name}_group"] = {
            "labels": list(group),
            "test_positives": int(y_test.sum()),
            "f1_at_0.5": round(f1(test_score >= 0.5, y_test), 4),
            "f1_at_dev_threshold": round(f1(test_score >= dev_threshold, y_test), 4),
            "f1_at_dev_threshold_95ci": bootstrap_f1_interval(test_score >= dev_threshold, y_test),
            "dev_threshold": dev_threshold,
            "f1_any_member_over_label_threshold": round(f1(any_member, y_test), 4),
            "roc_auc": auc(test_score, y_test),
            "roc_auc_vader": auc(-np.asarray(test_comp), y_test),
            "mean_score": round(float(test_score.mean()), 4),
            "base_rate": round(float(y_test.mean()), 4),
        }
        curves[name] = reliability(test_score, y_test.astype(np.float64))
    result["calibration_test"] = curves
    args.out.mkdir(parents=True, exist_ok=True)
    plot_reliability(curves, args.out / "reliability.png")

    scorer = EmotionScorer(model, meta, tokenizer)
    result["customer_service"] = customer_service(scorer, CUSTOMER_SERVICE_SET)
    result["seconds"] = round(time.monotonic() - started, 1)
    (args.out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    brief = {k: v for k, v in result.items() if k not in {"per_label_test", "calibration_test"}}
    print(json.dumps(brief, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
