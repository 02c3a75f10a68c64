"""Evaluate an artifact on every dev and test split we hold: every number in ``models/README.md`` comes from here.

    .venv/bin/python models/evaluate.py --data ../shared/data

Scores through the service's own scorer (ONNX Runtime, the packaged artifact unless ``--artifact``), so the card's
numbers are the service's numbers. Writes ``models/eval/metrics.json`` and ``models/eval/reliability.png`` (anger
and frustration reliability per dev corpus). Nothing is tuned here: thresholds and calibration come from the
artifact (fitted on dev by ``calmwatch train``); "F1 at best" is the best threshold *on that same split*, an
upper bound that says how much the 0.5 operating point leaves on the table, not a tuned result.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from monitor.scoring import VaderSentiment
from monitor.scoring.artifact import default_artifact_dir
from monitor.scoring.onnx_model import OnnxEmotionScorer
from monitor.training.augment import HELD_OUT, SWAP_GROUPS
from monitor.training.corpora import (
    ANGER_COLUMN,
    CORPORA,
    FRUSTRATION_COLUMN,
    GOEMOTIONS_LABELS,
    read_corpus,
)
from monitor.training.recipe import macro_f1

HERE = Path(__file__).resolve().parent
CUSTOMER_SERVICE_SET = HERE / "eval" / "customer_service.jsonl"
#: The issue's examples, printed with their scores (the scenario suite and tests pin behaviour; this shows it).
EXAMPLES = (
    "I'm livid. Absolutely livid.",
    "I have asked FIVE times and nobody cares",
    "I am furious, this is the third time!",
    "I am furious.",
    "I am a little disappointed with the delay",
    "Thanks so much, that fixed it!",
)

#: Sentences for the vocabulary probe: each word of a swap group, and each held-out word, in the same frames.
PROBE_FRAMES = (
    "I am {}.",
    "I'm {} about this.",
    "Honestly I am {} with how this has been handled.",
    "I'm {}, my order is late again.",
)


def f1_at(scores: np.ndarray, truth: np.ndarray, threshold: float) -> float:
    pred = scores >= threshold
    tp = float(np.sum(pred & truth))
    return 2 * tp / max(1.0, float(pred.sum() + truth.sum()))


def best_f1(scores: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """The best F1 over thresholds 0.02..0.98 and the threshold that gives it."""
    grid = np.round(np.arange(0.02, 0.99, 0.01), 2)
    values = [f1_at(scores, truth, float(t)) for t in grid]
    i = int(np.argmax(values))
    return values[i], float(grid[i])


def ece(scores: np.ndarray, truth: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: the |mean score - positive rate| per equal-width bin, weighted by bin size."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(scores, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(float(scores[m].mean()) - float(truth[m].mean()))
    return total


def measures(scores: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """ROC-AUC, F1 at 0.5, best F1 (and where), ECE, and the share of rows at or above 0.5."""
    from sklearn.metrics import roc_auc_score

    out: dict[str, Any] = {
        "n": len(truth),
        "positives": int(truth.sum()),
        "share_at_0.5": float(np.mean(scores >= 0.5)),
    }
    if 0 < truth.sum() < len(truth):
        best, where = best_f1(scores, truth)
        out.update(auc=float(roc_auc_score(truth, scores)), f1_at_0_5=f1_at(scores, truth, 0.5), best_f1=best,
                   best_threshold=where)  # fmt: skip
    out["ece"] = ece(scores, truth)
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def reliability_plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> None:
    """One panel per score: mean predicted vs observed rate in 10 bins, a line per dev corpus."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for ax, score in zip(axes, ("anger", "frustration"), strict=True):
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        for name, (s, y) in curves.items():
            if not name.endswith(f"/{score}"):
                continue
            edges = np.linspace(0, 1, 11)
            idx = np.clip(np.digitize(s, edges[1:-1]), 0, 9)
            xs = [float(s[idx == b].mean()) for b in range(10) if (idx == b).sum() >= 5]
            ys = [float(y[idx == b].mean()) for b in range(10) if (idx == b).sum() >= 5]
            ax.plot(xs, ys, marker="o", label=f"{name.split('/')[0]} (ECE {ece(s, y):.3f})")
        ax.set_title(f"{score}: dev reliability")
        ax.set_xlabel("mean predicted")
        ax.set_ylabel("observed rate")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def evaluate(data_dir: Path, artifact: Path, splits: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    scorer = OnnxEmotionScorer(artifact)
    vader = VaderSentiment()
    results: dict[str, Any] = {"artifact": str(artifact), "precision": scorer.precision, "splits": {}}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for corpus in CORPORA:
        for split in splits:
            data = read_corpus(data_dir, corpus, split)
            scored = scorer.score(data.texts)
            negativity = np.asarray([max(0.0, -vader.compound(t)) for t in data.texts])
            entry: dict[str, Any] = {}
            for score, column in (("anger", ANGER_COLUMN), ("frustration", FRUSTRATION_COLUMN)):
                rows = np.flatnonzero(data.mask[:, column] > 0)
                if len(rows) == 0:
                    continue
                s = np.asarray([getattr(scored[i], score) for i in rows])
                truth = data.targets[rows, column] > 0  # complaints-xci: any complaint counts (Severity 1 is 0.5)
                entry[score] = {"model": measures(s, truth), "vader": measures(negativity[rows], truth)}
                if split == "dev" and truth.any():
                    curves[f"{corpus}/{score}"] = (s, truth.astype(float))
            if corpus == "goemotions":
                n = len(GOEMOTIONS_LABELS)
                probs = np.asarray([[sc.emotions[k] for k in GOEMOTIONS_LABELS] for sc in scored])
                thresholds = [scorer.meta.thresholds[k] for k in GOEMOTIONS_LABELS]
                entry["macro_f1_tuned_thresholds"] = round(macro_f1(probs, data.targets[:, :n], thresholds), 4)
            results["splits"][f"{corpus}/{split}"] = entry
            print(f"{corpus}/{split}: {json.dumps(entry)}", flush=True)
    results["customer_service"] = customer_service(scorer)
    results["examples"] = {t: {"anger": round(s.anger, 4), "frustration": round(s.frustration, 4)}
                           for t, s in zip(EXAMPLES, scorer.score(list(EXAMPLES)), strict=True)}  # fmt: skip
    results["vocabulary_probe"] = vocabulary_probe(scorer)
    conversations = data_dir / "support-conversations" / "conversations.json"
    if conversations.is_file():
        results["handles"] = handle_effect(scorer, conversations)
    results["onnx"] = scorer.meta.onnx
    return results, curves


def handle_effect(scorer: OnnxEmotionScorer, conversations: Path) -> dict[str, Any]:
    """How much an @handle or a link adds: the first turn of each real support conversation (a tweet to a brand),
    as written and without its handles and links, and the share of each over 0.6 (the rule pack's warning
    level). Unlabelled data: this says what a handle does to the scores, not whether they are right."""
    from monitor.scoring.normalize import HANDLES_AND_LINKS, model_text

    firsts = [c["dialogContent"][0]["message"] for c in json.loads(conversations.read_text())]
    out: dict[str, Any] = {"turns": len(firsts)}
    stripped = [model_text(t, HANDLES_AND_LINKS) for t in firsts]
    for name, texts in (("as_written", firsts), ("without_handles", stripped)):
        scored = scorer.score(texts)
        for score in ("anger", "frustration"):
            out[f"{name}/{score}_over_0.6"] = round(float(np.mean([getattr(x, score) > 0.6 for x in scored])), 4)
    return out


def vocabulary_probe(scorer: OnnxEmotionScorer) -> dict[str, Any]:
    """Mean score and share over 0.5 of the probe sentences, for the words the word-swap augmentation teaches
    (``SWAP_GROUPS``) and for same-meaning words it never shows (``HELD_OUT``): the gap says whether the swap
    taught the meaning or only the listed words. Anger words are read on ``anger``, frustration words on
    ``frustration``."""
    out: dict[str, Any] = {}
    for group in SWAP_GROUPS:
        for kind, words in (("taught", SWAP_GROUPS[group]), ("held_out", HELD_OUT[group])):
            texts = [frame.format(w) for w in words for frame in PROBE_FRAMES]
            values = np.asarray([getattr(s, group) for s in scorer.score(texts)])
            per_word = values.reshape(len(words), len(PROBE_FRAMES)).mean(axis=1)
            out[f"{group}/{kind}"] = {
                "mean": round(float(values.mean()), 4),
                "share_over_0.5": round(float(np.mean(values > 0.5)), 4),
                "per_word": {w: round(float(v), 4) for w, v in zip(words, per_word, strict=True)},
            }
    return out


def customer_service(scorer: OnnxEmotionScorer) -> dict[str, Any]:
    """The hand-written check set: share of openly angry turns over 0.5, share of calm ones over 0.5, AUCs."""
    rows = [json.loads(line) for line in CUSTOMER_SERVICE_SET.read_text().splitlines() if line.strip()]
    scored = scorer.score([r["text"] for r in rows])
    anger = np.asarray([s.anger for s in scored])
    frustration = np.asarray([s.frustration for s in scored])
    kinds = np.asarray([r["kind"] for r in rows])
    calm = np.isin(kinds, ["neutral", "thanks", "calm_hard"])
    out = {
        "angry_with_anger_over_0.5": float(np.mean(anger[kinds == "angry"] > 0.5)),
        "calm_with_anger_over_0.5": float(np.mean(anger[calm] > 0.5)),
        "calm_with_frustration_over_0.5": float(np.mean(frustration[calm] > 0.5)),
        "anger": measures(anger, np.asarray([r["anger"] for r in rows]) > 0),
        "frustration": measures(frustration, np.asarray([r["frustration"] for r in rows]) > 0),
    }
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def markdown_table(results: dict[str, Any]) -> str:
    """The model card's evaluation table: every split and score, the model beside VADER's negativity."""
    lines = [
        "| split | score | n (pos.) | ROC-AUC | F1 at 0.5 | best F1 (at) | ECE | "
        "VADER ROC-AUC | VADER F1 at 0.5 | VADER best F1 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, entry in results["splits"].items():
        for score in ("anger", "frustration"):
            if score not in entry:
                continue
            m, v = entry[score]["model"], entry[score]["vader"]
            if "auc" not in m:  # a calm set: the share flagged is what matters
                lines.append(f"| {name} | {score} | {m['n']} (0) | | share at 0.5: {m['share_at_0.5']:.4f} | | "
                             f"{m['ece']:.4f} | | share: {v['share_at_0.5']:.4f} | |")  # fmt: skip
                continue
            lines.append(
                f"| {name} | {score} | {m['n']} ({m['positives']}) | {m['auc']:.4f} | {m['f1_at_0_5']:.4f} | "
                f"{m['best_f1']:.4f} ({m['best_threshold']:.2f}) | {m['ece']:.4f} | {v['auc']:.4f} | "
                f"{v['f1_at_0_5']:.4f} | {v['best_f1']:.4f} |"
            )
    for name, entry in results["splits"].items():
        if "macro_f1_tuned_thresholds" in entry:
            lines.append(f"\n{name}: macro-F1 over the 28 emotions at the artifact's thresholds "
                         f"{entry['macro_f1_tuned_thresholds']:.4f}")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder holding goemotions/, complaints-xci/, ...")
    parser.add_argument("--artifact", type=Path, default=None, help="artifact directory (default: the packaged one)")
    parser.add_argument("--splits", nargs="+", default=["dev", "test"])
    parser.add_argument("--out", type=Path, default=HERE / "eval" / "metrics.json")
    parser.add_argument("--plot", type=Path, default=HERE / "eval" / "reliability.png")
    args = parser.parse_args()
    started = time.monotonic()
    results, curves = evaluate(args.data, args.artifact or default_artifact_dir(), args.splits)
    results["seconds"] = round(time.monotonic() - started, 1)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    reliability_plot(curves, args.plot)
    print(markdown_table(results))
    summary = ("customer_service", "examples", "vocabulary_probe", "handles")
    print(json.dumps({k: results[k] for k in summary if k in results}, indent=2))


if __name__ == "__main__":
    main()
