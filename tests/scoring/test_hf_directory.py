"""A Hugging Face classifier directory as a scorer (CALMWATCH_MODEL_PATH), with torch installed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.errors import ModelArtifactError
from monitor.scoring import load_scorer
from monitor.scoring.hf_directory import HFDirectoryScorer
from tests.tiny_models import build_tiny_hf_model


def test_hf_directory_scores_with_its_own_labels(tmp_path: Path) -> None:
    """Emotions are the directory's labels; anger is the union of the anger group's probabilities."""
    scorer = load_scorer("model", build_tiny_hf_model(tmp_path / "tiny"))
    assert isinstance(scorer, HFDirectoryScorer)
    [s] = scorer.score(["i am so angry"])
    assert set(s.emotions) == {"anger", "joy", "annoyance"}
    none = (1 - s.emotions["anger"]) * (1 - s.emotions["annoyance"])
    assert s.anger == pytest.approx(1 - none, abs=1e-6)


def test_a_calibration_beside_the_directory_is_used(tmp_path: Path) -> None:
    """A calmwatch.json with a calibration block replaces the uncalibrated union."""
    model_dir = build_tiny_hf_model(tmp_path / "tiny")
    combiner = {"features": ["logit:anger"], "coef": [0.0], "intercept": 0.0}
    (model_dir / "calmwatch.json").write_text(json.dumps({"calibration": {"anger": combiner, "frustration": combiner}}))
    [s] = load_scorer("model", model_dir).score(["the order is late"])
    assert s.anger == pytest.approx(0.5) and s.frustration == pytest.approx(0.5)


def test_directories_without_names_or_config_are_refused(tmp_path: Path) -> None:
    """LABEL_0-style labels or a directory that is no model at all give a clear error."""
    with pytest.raises(ModelArtifactError, match="id2label"):
        load_scorer("model", build_tiny_hf_model(tmp_path / "tiny", named=False))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelArtifactError, match=r"config\.json"):
        load_scorer("model", tmp_path / "empty")
