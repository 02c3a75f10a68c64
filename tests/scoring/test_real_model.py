"""The shipped artifact, through the service's ONNX path: intact, small, and saying what it should."""

from __future__ import annotations

import json

import numpy as np
import pytest

from monitor.scoring import load_scorer
from monitor.scoring.artifact import ONNX_FILE, default_artifact_dir, read_meta, sha256_file
from monitor.scoring.onnx_model import OnnxEmotionScorer
from tests.paths import REPO_ROOT

pytestmark = pytest.mark.model

CHECK_SET = REPO_ROOT / "models" / "eval" / "customer_service.jsonl"


def test_packaged_artifact_is_intact_and_small() -> None:
    """model.onnx matches its checksum and stays under 25 MB; the packaged copy is the one in models/artifact."""
    artifact = default_artifact_dir()
    meta = read_meta(artifact)
    assert sha256_file(artifact / ONNX_FILE) == meta.sha256[ONNX_FILE]
    assert (artifact / ONNX_FILE).stat().st_size <= 25 * 2**20
    assert artifact.resolve() == (REPO_ROOT / "models" / "artifact").resolve()
    assert len(meta.labels) == 28 and meta.outputs[-2:] == ("chat_anger", "chat_frustration")


def test_the_default_scorer_is_onnx() -> None:
    """With no model path the service loads the packaged artifact on ONNX Runtime."""
    assert isinstance(load_scorer("model"), OnnxEmotionScorer)


def test_stated_fury_scores_angry_and_more_so_with_a_third_time() -> None:
    """ "I am furious." reads as angry, and adding that it is the third time makes it angrier, not less."""
    furious, third = load_scorer("model").score(["I am furious.", "I am furious, this is the third time!"])
    assert furious.anger > 0.5 and third.anger > furious.anger


@pytest.mark.parametrize("text", ["I'm livid. Absolutely livid.", "I have asked FIVE times and nobody cares"])
def test_angry_turns_without_common_anger_words_score_angry(text: str) -> None:
    """The issue's two examples score anger over 0.5. "livid" is one of the word-swap augmentation's words
    (monitor/training/augment.py), so this checks that the augmentation shipped, not that the model generalises:
    the held-out words of models/evaluate.py's vocabulary probe measure that."""
    [scores] = load_scorer("model").score([text])
    assert scores.anger > 0.5


def test_mild_and_grateful_turns_stay_low() -> None:
    """A mild disappointment is not anger; a thank-you is neither anger nor frustration."""
    mild, thanks = load_scorer("model").score(
        ["I am a little disappointed with the delay", "Thanks so much, that fixed it!"]
    )
    assert mild.anger < 0.5
    assert thanks.anger < 0.1 and thanks.frustration < 0.1


def test_int8_graph_scores_like_fp32_on_the_check_turns() -> None:
    """On the fixed customer-service turns the shipped int8 graph is within 0.02 mean absolute of the fp32
    network (torch, same weights) for anger and frustration, and loses at most 0.005 ROC-AUC."""
    pytest.importorskip("torch")
    from sklearn.metrics import roc_auc_score

    from bench.bench_model import TorchScorer
    from monitor.scoring.onnx_model import scores_from_logits
    from monitor.scoring.vader import VaderSentiment

    rows = [json.loads(line) for line in CHECK_SET.read_text().splitlines() if line.strip()]
    texts = [r["text"] for r in rows]
    artifact = default_artifact_dir()
    onnx = OnnxEmotionScorer(artifact).score(texts)
    torch_scorer = TorchScorer(artifact, threads=2)
    fp32 = scores_from_logits(torch_scorer.meta, texts, torch_scorer.logits(texts), VaderSentiment())
    for score in ("anger", "frustration"):
        a = np.asarray([getattr(s, score) for s in fp32])
        b = np.asarray([getattr(s, score) for s in onnx])
        assert float(np.mean(np.abs(a - b))) <= 0.02
        y = np.asarray([r[score] for r in rows]) > 0
        assert roc_auc_score(y, a) - roc_auc_score(y, b) <= 0.005
