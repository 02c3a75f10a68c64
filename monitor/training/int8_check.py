"""Does the int8 graph score like the fp32 one? Mean absolute difference and ROC-AUC of anger and frustration.

``calmwatch train`` runs it on the dev mix, ``calmwatch export`` on the texts it is given; the verdict and its
figures are written into ``calmwatch.json`` (``onnx.int8_check``) and the model card.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _auc(y: np.ndarray, s: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else None


def compare_precisions(
    fp32: Path,
    int8: Path,
    artifact_dir: Path,
    texts: Sequence[str],
    labels: dict[str, tuple[np.ndarray, np.ndarray]],
) -> dict[str, Any]:
    """Score ``texts`` with both graphs. ``labels[score] = (row indices, 0/1 labels)`` for the AUC comparison."""
    from monitor.scoring.onnx_model import OnnxEmotionScorer

    results: dict[str, Any] = {"texts": len(texts)}
    scored = {}
    for name, graph in (("fp32", fp32), ("int8", int8)):
        scorer = OnnxEmotionScorer(artifact_dir, graph=graph, precision=name, verify=False)
        scored[name] = scorer.score(list(texts))
    worst_abs, worst_drop = 0.0, 0.0
    for score in ("anger", "frustration"):
        a = np.asarray([getattr(s, score) for s in scored["fp32"]])
        b = np.asarray([getattr(s, score) for s in scored["int8"]])
        mean_abs = float(np.mean(np.abs(a - b)))
        results[f"{score}_mean_abs"] = round(mean_abs, 5)
        worst_abs = max(worst_abs, mean_abs)
        if score in labels:
            rows, y = labels[score]
            auc_a, auc_b = _auc(y > 0.5, a[rows]), _auc(y > 0.5, b[rows])
            if auc_a is not None and auc_b is not None:
                results[f"{score}_auc_fp32"], results[f"{score}_auc_int8"] = round(auc_a, 5), round(auc_b, 5)
                worst_drop = max(worst_drop, auc_a - auc_b)
    results["max_mean_abs"] = round(worst_abs, 5)
    results["max_auc_drop"] = round(worst_drop, 5)
    return results
