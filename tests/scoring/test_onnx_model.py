"""The service's scorer: an artifact's ONNX graph on ONNX Runtime, its loading errors, chunking, order."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

import monitor.scoring.onnx_model as onnx_model
from monitor.errors import ModelArtifactError
from monitor.scoring import Scorer, VaderSentiment, load_scorer
from monitor.scoring.artifact import META_FILE, ONNX_FILE, TOKENIZER_FILE
from monitor.scoring.onnx_model import OnnxEmotionScorer
from monitor.training.corpora import GOEMOTIONS_LABELS
from tests.tiny_models import build_tiny_artifact


@pytest.fixture(scope="module")
def tiny_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny network exported and quantised by the recipe's code."""
    return build_tiny_artifact(tmp_path_factory.mktemp("tiny") / "artifact")


def test_scores_every_turn_with_the_calibration_of_the_artifact(tiny_artifact: Path) -> None:
    """anger and frustration are the artifact's Platt scalings of the chat logits; 28 emotions; VADER sentiment."""
    scorer = load_scorer("model", tiny_artifact)
    assert isinstance(scorer, OnnxEmotionScorer) and isinstance(scorer, Scorer)
    texts = ["you people are useless", "thanks!", "ok"]
    scores = scorer.score(texts)
    logits = scorer.logits(texts)
    outputs = list(scorer.meta.outputs)
    vader = VaderSentiment()
    assert len(scores) == 3 and scorer.score([]) == [] and logits.shape == (3, 30)
    for text, s, row in zip(texts, scores, logits, strict=True):
        assert set(s.emotions) == set(GOEMOTIONS_LABELS)
        assert s.sentiment == pytest.approx(vader.compound(text))
        assert s.anger == pytest.approx(1 / (1 + math.exp(-row[outputs.index("chat_anger")])), abs=1e-6)
        assert s.frustration == pytest.approx(1 / (1 + math.exp(1 - 2 * row[outputs.index("chat_frustration")])))


TEXTS = ["a much longer message about a refund " * 4, "ok", "late again, third time", "thanks", "where is it?"]


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_chunks_and_neighbours_do_not_change_a_turns_scores(
    tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch, precision: str
) -> None:
    """A batch answers in the caller's order and each turn scores exactly as it does alone: int8 runs row by
    row, fp32 in length-sorted chunks (here several, one turn alone over the budget)."""
    monkeypatch.setattr(onnx_model, "TOKEN_BUDGET", 24)
    graph = tiny_artifact / ("model.onnx" if precision == "int8" else "tiny-fp32.onnx")
    scorer = OnnxEmotionScorer(tiny_artifact, graph=graph, precision=precision)
    for text, got in zip(TEXTS, scorer.score(TEXTS), strict=True):
        alone = scorer.score([text])[0]
        tolerance = 0.0 if precision == "int8" else 1e-5
        assert got.anger == pytest.approx(alone.anger, abs=tolerance)
        assert got.emotions["joy"] == pytest.approx(alone.emotions["joy"], abs=tolerance)


def test_emphasis_reaches_the_network(tiny_artifact: Path) -> None:
    """Capitals change the score although the tokenizer lowercases: the emphasis features are an input."""
    scorer = OnnxEmotionScorer(tiny_artifact)
    quiet, loud = scorer.logits(["where is my refund", "WHERE IS MY REFUND"])
    assert scorer.token_ids(["where is my refund"]) == scorer.token_ids(["WHERE IS MY REFUND"])
    assert abs(float(quiet[-2] - loud[-2])) > 1e-6


def test_the_int8_check_is_recorded(tiny_artifact: Path) -> None:
    """calmwatch.json says which precision was shipped and what the int8-vs-fp32 check measured."""
    meta = json.loads((tiny_artifact / META_FILE).read_text())
    assert meta["onnx"]["precision"] in {"int8", "fp32"}
    assert {"anger_mean_abs", "frustration_mean_abs", "max_auc_drop"} <= set(meta["onnx"]["int8_check"])


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_a_corrupt_graph_is_a_checksum_error_naming_the_file(tiny_artifact: Path, tmp_path: Path) -> None:
    """One flipped byte in model.onnx is refused with the file's path, never run as a different model."""
    copy = _copy(tiny_artifact, tmp_path / "a")
    data = bytearray((copy / ONNX_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / ONNX_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelArtifactError, match="checksum mismatch") as excinfo:
        load_scorer("model", copy)
    assert str(copy / ONNX_FILE) in str(excinfo.value)


@pytest.mark.parametrize("missing", [META_FILE, ONNX_FILE, TOKENIZER_FILE])
def test_a_missing_file_is_named(tiny_artifact: Path, tmp_path: Path, missing: str) -> None:
    """Each of the serving files, when missing, gives an error naming it."""
    copy = _copy(tiny_artifact, tmp_path / "b")
    (copy / missing).unlink()
    with pytest.raises(ModelArtifactError, match=f"{missing}.*missing"):
        OnnxEmotionScorer(copy)


def test_unreadable_metadata_and_missing_directory(tiny_artifact: Path, tmp_path: Path) -> None:
    """A broken calmwatch.json or a path that does not exist are one-line errors."""
    copy = _copy(tiny_artifact, tmp_path / "c")
    (copy / META_FILE).write_text("{not json")
    with pytest.raises(ModelArtifactError, match="unreadable model metadata"):
        load_scorer("model", copy)
    with pytest.raises(ModelArtifactError, match="does not exist"):
        load_scorer("model", tmp_path / "nowhere")


def test_vader_and_unknown_kinds() -> None:
    """The factory gives VADER on request and refuses a kind it does not know."""
    assert load_scorer("vader").name == "vader"
    with pytest.raises(ValueError, match="unknown scorer"):
        load_scorer("bert")
