"""The transformer scorer: artifact loading and its failure modes, HF directories, and the real weights."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from monitor.emotion_model import (
    DEFAULT_ARTIFACT_DIR,
    GOEMOTIONS_LABELS,
    META_FILE,
    WEIGHTS_FILE,
    ArtifactMeta,
    EmotionScorer,
    HFDirectoryScorer,
    LogisticCombiner,
    ModelArtifactError,
    any_of_logit,
    build_from_base,
    load_scorer,
    save_artifact,
    sha256_file,
)
from monitor.errors import CalmwatchError
from monitor.scoring import Scorer, VaderSentiment
from tests.tiny_models import build_tiny_hf_model

ANGRY = "I have asked FIVE times and nobody cares"
OPENLY_ANGRY = "You people are useless and I am furious about this"
THANKS = "Thank you so much, that's sorted it, have a lovely evening!"


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


@pytest.fixture(scope="module")
def untrained_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An artifact written from the base encoder with a fresh head: real format, no training needed."""
    combiner = LogisticCombiner(("logit:anger", "vader_negativity"), (1.0, 2.0), -1.0)
    meta = ArtifactMeta(
        labels=GOEMOTIONS_LABELS,
        thresholds=dict.fromkeys(GOEMOTIONS_LABELS, 0.5),
        anger=combiner,
        frustration=combiner,
        weights_sha256="",
        base_sha256="",
    )
    return save_artifact(build_from_base(), meta, tmp_path_factory.mktemp("artifact"))


def test_logistic_combiner_reads_named_features() -> None:
    """The combiner is sigmoid(intercept + coef . features) over emotion logits and VADER negativity."""
    combiner = LogisticCombiner(("logit:anger", "logit:annoyance", "vader_negativity"), (0.5, 1.0, 2.0), -1.0)
    value = combiner({"anger": 2.0, "annoyance": -1.0}, vader_compound=-0.5)
    assert value == pytest.approx(_sigmoid(-1.0 + 1.0 - 1.0 + 1.0))
    assert combiner({"anger": 2.0, "annoyance": -1.0}, vader_compound=0.9) == pytest.approx(_sigmoid(-1.0))
    assert LogisticCombiner.from_json(combiner.to_json()) == combiner


def test_any_of_logit_is_a_union_that_does_not_overflow() -> None:
    """One member gives its own logit back; more members only add; extreme logits stay finite."""
    assert any_of_logit([1.7]) == pytest.approx(1.7)
    assert any_of_logit([-2.0, -2.0]) > any_of_logit([-2.0]) > any_of_logit([-2.0, -50.0]) - 1e-9
    p = _sigmoid(0.5)
    assert _sigmoid(any_of_logit([0.5, 0.5])) == pytest.approx(1 - (1 - p) ** 2)
    assert any_of_logit([800.0, -5.0]) == pytest.approx(800.0 + math.log1p(math.exp(-5.0)))  # 1 - u = e^-800 * (1 - p2)
    assert math.isfinite(any_of_logit([-800.0, -800.0])) and any_of_logit([-800.0]) < -600


def test_artifact_round_trip_scores_every_turn(untrained_artifact: Path) -> None:
    """A saved artifact loads as a Scorer giving anger, frustration, VADER sentiment and 28 emotions."""
    scorer = load_scorer(untrained_artifact)
    assert isinstance(scorer, EmotionScorer) and isinstance(scorer, Scorer)
    texts = ["you people are useless", "thanks!", "ok"]
    scores = scorer.score(texts)
    vader = VaderSentiment()
    assert len(scores) == 3 and scorer.score([]) == []
    for text, s in zip(texts, scores, strict=True):
        assert set(s.emotions) == set(GOEMOTIONS_LABELS)
        assert all(0.0 <= p <= 1.0 for p in s.emotions.values())
        assert s.sentiment == pytest.approx(vader.compound(text))
        logit_anger = math.log(s.emotions["anger"] / (1 - s.emotions["anger"]))
        assert s.anger == pytest.approx(_sigmoid(-1 + logit_anger + 2 * max(0.0, -s.sentiment)), abs=1e-4)
    assert (untrained_artifact / WEIGHTS_FILE).stat().st_size < 25 * 2**20


def test_scores_do_not_depend_on_batch_neighbours(untrained_artifact: Path) -> None:
    """Padding is masked out of the mean pooling: a turn scores the same alone and next to a long turn."""
    scorer = load_scorer(untrained_artifact)
    alone = scorer.score(["late again"])[0]
    batched = scorer.score(["late again", "a much longer message " * 10])[0]
    assert batched.anger == pytest.approx(alone.anger, abs=1e-4)
    assert batched.emotions["joy"] == pytest.approx(alone.emotions["joy"], abs=1e-4)


def test_length_chunks_keep_each_turn_in_its_place(untrained_artifact: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch cut into length-sorted chunks answers in the caller's order, with the scores of each turn alone."""
    import monitor.emotion_model as emotion_model

    monkeypatch.setattr(emotion_model, "TOKEN_BUDGET", 24)  # several chunks, one turn alone over budget
    scorer = load_scorer(untrained_artifact)
    texts = ["a much longer message about a refund " * 4, "ok", "late again, third time", "thanks", "where is it?"]
    batched = scorer.score(texts)
    for text, got in zip(texts, batched, strict=True):
        alone = scorer.score([text])[0]
        assert got.sentiment == pytest.approx(alone.sentiment)
        assert got.anger == pytest.approx(alone.anger, abs=1e-5)
        assert got.emotions == pytest.approx(alone.emotions, abs=1e-5)


def test_corrupt_weights_fail_the_checksum(untrained_artifact: Path, tmp_path: Path) -> None:
    """One flipped byte in the weights is a ModelArtifactError naming the file, not a different model."""
    copy = Path(shutil.copytree(untrained_artifact, tmp_path / "copy"))
    weights = copy / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelArtifactError, match="checksum mismatch") as excinfo:
        load_scorer(copy)
    assert str(weights) in str(excinfo.value) and isinstance(excinfo.value, CalmwatchError)


def test_missing_and_unreadable_artifact_files_are_named(untrained_artifact: Path, tmp_path: Path) -> None:
    """No directory, no metadata or broken metadata: each error names the path and what is wrong."""
    with pytest.raises(ModelArtifactError, match="does not exist"):
        load_scorer(tmp_path / "nowhere")
    copy = Path(shutil.copytree(untrained_artifact, tmp_path / "copy"))
    (copy / META_FILE).unlink()
    with pytest.raises(ModelArtifactError, match=f"{copy / META_FILE}.*missing"):
        load_scorer(copy)
    (copy / META_FILE).write_text("{not json")
    with pytest.raises(ModelArtifactError, match="unreadable model metadata"):
        load_scorer(copy)


def test_base_encoder_mismatch_is_reported(untrained_artifact: Path, tmp_path: Path) -> None:
    """An artifact recorded against other base weights refuses to load on this base package."""
    copy = Path(shutil.copytree(untrained_artifact, tmp_path / "copy"))
    meta = json.loads((copy / META_FILE).read_text())
    meta["sha256"]["base:model.safetensors"] = "0" * 64
    (copy / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelArtifactError, match="base encoder checksum mismatch"):
        load_scorer(copy)


def test_hf_directory_is_scored_with_group_probabilities(tmp_path: Path) -> None:
    """CALMWATCH_MODEL_PATH to a plain HF classifier: anger = P(any of anger, annoyance) from its labels."""
    scorer = load_scorer(build_tiny_hf_model(tmp_path / "tiny"))
    assert isinstance(scorer, HFDirectoryScorer)
    [s] = scorer.score(["nobody cares"])
    assert set(s.emotions) == {"anger", "joy", "annoyance"}
    expected = 1 - (1 - s.emotions["anger"]) * (1 - s.emotions["annoyance"])
    assert s.anger == pytest.approx(expected) and s.frustration == pytest.approx(expected)


def test_hf_directory_uses_a_calmwatch_calibration_when_present(tmp_path: Path) -> None:
    """A calmwatch.json calibration block next to a HF model replaces the group-probability rule."""
    model_dir = build_tiny_hf_model(tmp_path / "tiny")
    cal = {"features": ["logit:joy"], "coef": [0.0], "intercept": 0.0}
    (model_dir / META_FILE).write_text(json.dumps({"calibration": {"anger": cal, "frustration": cal}}))
    [s] = load_scorer(model_dir).score(["the order is late"])
    assert s.anger == pytest.approx(0.5) and s.frustration == pytest.approx(0.5)


def test_hf_directory_without_label_names_is_refused(tmp_path: Path) -> None:
    """Without an id2label map naming emotions there is nothing to derive anger from: a clear error."""
    with pytest.raises(ModelArtifactError, match="id2label"):
        load_scorer(build_tiny_hf_model(tmp_path / "tiny", named=False))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelArtifactError, match=r"config\.json"):
        load_scorer(tmp_path / "empty")


@pytest.mark.model
def test_committed_artifact_is_intact_and_small() -> None:
    """The artifact in models/ matches its recorded checksum and stays under 25 MB for git."""
    meta = json.loads((DEFAULT_ARTIFACT_DIR / META_FILE).read_text())
    weights = DEFAULT_ARTIFACT_DIR / WEIGHTS_FILE
    assert sha256_file(weights) == meta["sha256"][WEIGHTS_FILE]
    assert weights.stat().st_size <= 25 * 2**20
    assert meta["labels"] == list(GOEMOTIONS_LABELS) and len(meta["thresholds"]) == 28


@pytest.mark.model
def test_real_model_separates_anger_from_thanks() -> None:
    """The trained model scores an openly angry complaint as angry and a thank-you as calm."""
    scorer = load_scorer()
    angry, thanks = scorer.score([OPENLY_ANGRY, THANKS])
    assert angry.anger > 0.5 > thanks.anger
    assert angry.frustration > 0.5 > thanks.frustration
    assert thanks.emotions["gratitude"] > 0.5


@pytest.mark.model
@pytest.mark.xfail(strict=True, reason="known miss, see models/README.md: Reddit reads it as neutral/annoyance")
def test_real_model_on_the_issue_example() -> None:
    """The issue's example (a fifth unanswered request, no angry words) should score anger over 0.5."""
    [angry] = load_scorer().score([ANGRY])
    assert angry.anger > 0.5
