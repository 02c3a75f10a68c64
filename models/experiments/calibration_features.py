"""Which inputs should the anger and frustration calibrations combine? Measured on dev only.

The shipped calibration is a 1-D Platt scaling of ``chat_anger`` (and of ``chat_frustration``). The network also
has GoEmotions heads (``anger``, ``annoyance``, ``disgust``, ...) that learned Reddit's vocabulary of fury
("livid"), which the chat head, trained on a few thousand complaints, may not have. This script fits each
candidate feature set the way ``calmwatch train`` fits the shipped one (weighted logistic regression on the dev
mix, then the F1-best operating-point shift with at most 1 % of the calm set at 0.5) and scores it by 5-fold
cross-validation *within* the dev splits, so no test split is read.

    python models/experiments/calibration_features.py --data ../shared/data --artifact models/artifact

Prints one table per score: per dev corpus ROC-AUC, F1 at 0.5 and the best F1, and the calm share at 0.5.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from monitor.scoring.onnx_model import OnnxEmotionScorer
from monitor.scoring.vader import VaderSentiment
from monitor.training.corpora import CORPORA, OUTPUTS, read_corpus
from monitor.training.recipe import CALIBRATION_SHARE, operating_point_shift

CANDIDATES: dict[str, dict[str, tuple[str, ...]]] = {
    "anger": {
        "chat_anger (shipped)": ("logit:chat_anger",),
        "+ anger": ("logit:chat_anger", "logit:anger"),
        "+ anger, annoyance, disgust": ("logit:chat_anger", "logit:anger", "logit:annoyance", "logit:disgust"),
        "+ anger, annoyance, disgust, vader": (
            "logit:chat_anger",
            "logit:anger",
            "logit:annoyance",
            "logit:disgust",
            "vader_negativity",
        ),
    },
    "frustration": {
        "chat_frustration (shipped)": ("logit:chat_frustration",),
        "+ annoyance, anger": ("logit:chat_frustration", "logit:annoyance", "logit:anger"),
        "+ annoyance, anger, vader": ("logit:chat_frustration", "logit:annoyance", "logit:anger", "vader_negativity"),
    },
}
COLUMN = {"anger": OUTPUTS.index("chat_anger"), "frustration": OUTPUTS.index("chat_frustration")}


def design(features: tuple[str, ...], logits: np.ndarray, negativity: np.ndarray) -> np.ndarray:
    def column(name: str) -> np.ndarray:
        return negativity if name == "vader_negativity" else logits[:, OUTPUTS.index(name.removeprefix("logit:"))]

    return np.stack([column(f) for f in features], axis=1).astype(np.float64)


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, corpus: np.ndarray) -> tuple[np.ndarray, float]:
    """Weighted logistic regression, then the recipe's operating-point shift: ``(coef, intercept)``."""
    reg = LogisticRegression(C=1.0, max_iter=2000).fit(x, y, sample_weight=w * len(y))
    coef, intercept = reg.coef_[0], float(reg.intercept_[0])
    z = intercept + x @ coef
    groups = [(np.flatnonzero(corpus == c), 1.0) for c in np.unique(corpus) if y[corpus == c].any()]
    calm_rows = [np.flatnonzero(corpus == c) for c in np.unique(corpus) if not y[corpus == c].any()]
    calm = calm_rows[0] if calm_rows else None
    return coef, intercept + operating_point_shift(z, y > 0, groups, calm)


def best_f1(s: np.ndarray, y: np.ndarray) -> float:
    best = 0.0
    for t in np.arange(0.02, 0.99, 0.01):
        pred = s >= t
        best = max(best, 2 * float(np.sum(pred & y)) / max(1.0, float(pred.sum() + y.sum())))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--artifact", type=Path, default=Path("models/artifact"))
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    scorer, vader = OnnxEmotionScorer(args.artifact), VaderSentiment()
    sets = [read_corpus(args.data, c, "dev") for c in CORPORA]
    texts = [t for s in sets for t in s.texts]
    print(f"scoring {len(texts)} dev texts ...", flush=True)
    logits = scorer.logits(texts)
    negativity = np.asarray([max(0.0, -vader.compound(t)) for t in texts])
    corpus_of = np.concatenate([np.full(len(s), s.corpus) for s in sets])
    targets, mask = np.concatenate([s.targets for s in sets]), np.concatenate([s.mask for s in sets])
    rng = np.random.default_rng(20261201)
    for score, candidates in CANDIDATES.items():
        j = COLUMN[score]
        rows = np.flatnonzero((mask[:, j] > 0) & np.isin(corpus_of, [c for c, v in CALIBRATION_SHARE.items() if v > 0]))
        y, corpus = targets[rows, j] > 0, corpus_of[rows]
        share = np.asarray([CALIBRATION_SHARE[c] for c in corpus])
        counts = {c: int(np.sum(corpus == c)) for c in np.unique(corpus)}
        w = share / np.asarray([counts[c] for c in corpus])
        w = w / w.sum()
        fold = rng.integers(0, args.folds, len(rows))
        print(f"\n## {score} (dev, {args.folds}-fold CV)\n")
        names = [c for c in CORPORA if c in counts]
        print("| features | " + " | ".join(f"{c} AUC / F1@.5 / best F1" for c in names) + " |")
        print("|---|" + "---|" * len(names))
        for label, features in candidates.items():
            x = design(features, logits[rows], negativity[rows])
            prob = np.zeros(len(rows))
            for k in range(args.folds):
                train, held = fold != k, fold == k
                coef, intercept = fit(x[train], y[train], w[train], corpus[train])
                prob[held] = 1 / (1 + np.exp(-(intercept + x[held] @ coef)))
            cells = []
            for c in names:
                r = corpus == c
                if y[r].any():
                    alert = prob[r] >= 0.5
                    f1 = 2 * float(np.sum(alert & y[r])) / max(1.0, float(alert.sum() + y[r].sum()))
                    cells.append(f"{roc_auc_score(y[r], prob[r]):.3f} / {f1:.3f} / {best_f1(prob[r], y[r]):.3f}")
                else:
                    cells.append(f"calm >= 0.5: {np.mean(prob[r] >= 0.5):.1%}")
            coef, intercept = fit(x, y, w, corpus)
            print(f"| {label} | " + " | ".join(cells) + " |", flush=True)
            fitted = f"(fit on all dev: coef {np.round(coef, 3).tolist()}, intercept {intercept:.3f})"
            print(f"|  {fitted} |" + " |" * len(names))


if __name__ == "__main__":
    main()
