"""The training recipe: data parsing, batching, threshold and calibration fitting, and a tiny offline run."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from monitor import training
from monitor.emotion_model import (
    GOEMOTIONS_LABELS,
    GROUP_OUTPUTS,
    WEIGHTS_FILE,
    EmotionScorer,
    feature_value,
    load_scorer,
    sha256_file,
)
from monitor.training import (
    TrainConfig,
    best_thresholds,
    bucketed_batches,
    combiner_features,
    fit_combiner,
    group_target,
    macro_f1,
    read_labels,
    read_split,
    train,
)

FIXTURE = Path(__file__).parent / "fixtures" / "goemotions_tiny"


def test_read_split_builds_a_multi_hot_matrix() -> None:
    """Comma-separated label ids become a (n, 28) 0/1 matrix; texts and ids keep their order."""
    split = read_split(FIXTURE, "train")
    assert split.labels.shape == (24, 28)
    row = split.texts.index("I'm furious they cancelled it")
    assert np.flatnonzero(split.labels[row]).tolist() == [2, 9]
    assert split.ids[0] == "t01"
    assert read_split(FIXTURE, "train", limit=5).labels.shape == (5, 28)


def test_labels_file_must_be_goemotions(tmp_path: Path) -> None:
    """A labels.txt in another order is refused: label ids would silently mean other emotions."""
    assert read_labels(FIXTURE) == GOEMOTIONS_LABELS
    (tmp_path / "labels.txt").write_text("\n".join(reversed(GOEMOTIONS_LABELS)))
    with pytest.raises(ValueError, match="labels differ"):
        read_labels(tmp_path)


def test_bucketed_batches_cover_every_example_once_and_are_seeded() -> None:
    """Each index appears exactly once; the same seed gives the same batches; batches group similar lengths."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 60, size=1000).tolist()
    batches = bucketed_batches(lengths, 16, seed=7)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert batches == bucketed_batches(lengths, 16, seed=7)
    assert batches != bucketed_batches(lengths, 16, seed=8)
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread < 10  # random batches of 16 from 3..60 would spread about 50


def test_thresholds_are_chosen_per_label_for_f1() -> None:
    """A label whose positives all score ~0.3 gets a threshold near 0.3, not 0.5."""
    labels = np.zeros((100, 2), dtype=np.float32)
    labels[:20, 0] = 1
    labels[:50, 1] = 1
    probs = np.full((100, 2), 0.05)
    probs[:20, 0] = 0.3
    probs[:50, 1] = 0.8
    chosen = best_thresholds(probs, labels, ["rare", "common"])
    assert 0.05 < chosen["rare"] <= 0.3 and 0.05 < chosen["common"] <= 0.8
    assert macro_f1(probs, labels, list(chosen.values())) == pytest.approx(1.0)
    assert macro_f1(probs, labels, [0.5, 0.5]) == pytest.approx(0.5)


def test_combiner_is_calibrated_on_its_fitting_data() -> None:
    """The fitted logistic combiner's mean prediction matches the base rate and rises with the anger logit."""
    rng = np.random.default_rng(1)
    logits = rng.normal(-3, 2, size=(4000, 28))
    truth = rng.random(4000) < 1 / (1 + np.exp(-(logits[:, 2] + 1)))
    labels = np.zeros((4000, 28), dtype=np.float32)
    labels[truth, 2] = 1
    target = group_target(labels, ("anger", "annoyance", "disgust"))
    combiner = fit_combiner(logits, [0.0] * 4000, target, ("logit:anger", "vader_negativity"))
    preds = [combiner({"anger": row[2]}, 0.0) for row in logits]
    assert np.mean(preds) == pytest.approx(target.mean(), abs=0.01)
    assert combiner.coef[0] == pytest.approx(1.0, abs=0.15)


def test_any_of_feature_is_the_noisy_or_of_the_members() -> None:
    """The batch design matrix and the per-turn combiner compute the same union log-odds."""
    rng = np.random.default_rng(2)
    logits = rng.normal(-3, 3, size=(50, 28))
    name = "any_of:anger,annoyance,disgust"
    column = combiner_features(logits, [0.0] * 50, (name,))[:, 0]
    members = 1 / (1 + np.exp(-logits[:, [2, 3, 11]]))
    union = 1 - np.prod(1 - members, axis=1)
    np.testing.assert_allclose(column, np.log(union / (1 - union)), rtol=1e-9, atol=1e-9)
    for row, value in zip(logits, column, strict=True):
        by_name = {"anger": row[2], "annoyance": row[3], "disgust": row[11]}
        assert feature_value(name, by_name, 0.0) == pytest.approx(value, abs=1e-12)


def _config(tmp_path: Path, name: str, **overrides: object) -> TrainConfig:
    base: dict[str, object] = {
        "data_dir": FIXTURE,
        "out_dir": tmp_path / name / "artifact",
        "checkpoint_dir": tmp_path / name / "checkpoints",
        "epochs": 2,
        "stop_after_epochs": None,
        "batch_size": 8,
        "threads": 1,
        "checkpoint_every": 1000,
    }
    base.update(overrides)
    return TrainConfig(**base)  # type: ignore[arg-type]


def test_a_tiny_run_writes_a_loadable_artifact_and_resume_reproduces_it(tmp_path: Path) -> None:
    """Training on the fixture offline gives a working artifact; stop + --resume gives identical weights."""
    summary = train(_config(tmp_path, "straight"))
    artifact = tmp_path / "straight" / "artifact"
    assert summary["steps"] == 6 and (artifact / WEIGHTS_FILE).stat().st_size < 25 * 2**20
    scores = load_scorer(artifact).score(["I am furious", "thanks a lot"])
    assert all(0.0 <= s.anger <= 1.0 and 0.0 <= s.frustration <= 1.0 for s in scores)
    assert set(scores[0].emotions) == set(GOEMOTIONS_LABELS)

    stopped = train(_config(tmp_path, "resumed", stop_after_steps=4))
    assert stopped == {"stopped_at_step": 4}
    assert not (tmp_path / "resumed" / "artifact").exists()
    train(_config(tmp_path, "resumed", resume=True))
    resumed = tmp_path / "resumed" / "artifact" / WEIGHTS_FILE
    assert sha256_file(resumed) == sha256_file(artifact / WEIGHTS_FILE)


def test_resume_refuses_a_checkpoint_from_another_recipe(tmp_path: Path) -> None:
    """A checkpoint written with other hyper-parameters is not silently continued."""
    train(_config(tmp_path, "a", epochs=1, stop_after_steps=1))
    shutil.copytree(tmp_path / "a" / "checkpoints", tmp_path / "b" / "checkpoints")
    with pytest.raises(SystemExit, match="different recipe"):
        train(_config(tmp_path, "b", epochs=1, lr=5e-5, resume=True))


def test_stop_after_epochs_finalizes_from_a_checkpoint_of_the_longer_schedule(tmp_path: Path) -> None:
    """Training 1 epoch of a 2-epoch schedule equals resuming that schedule's epoch-1 checkpoint and stopping."""
    summary = train(_config(tmp_path, "short", stop_after_epochs=1))
    assert summary["steps"] == 3 and summary["recipe"]["stop_after_epochs"] == 1
    train(_config(tmp_path, "long", stop_after_steps=3))  # the 2-epoch run, interrupted at the epoch boundary
    train(_config(tmp_path, "long", stop_after_epochs=1, resume=True))
    short, long = (tmp_path / name / "artifact" / WEIGHTS_FILE for name in ("short", "long"))
    assert sha256_file(short) == sha256_file(long)
    train(_config(tmp_path, "ahead", stop_after_steps=4))
    with pytest.raises(SystemExit, match="past where this run stops"):
        train(_config(tmp_path, "ahead", stop_after_epochs=1, resume=True))


def test_group_outputs_are_trained_on_the_union_and_feed_the_combiners(tmp_path: Path) -> None:
    """The anger score of a group-output artifact is Platt scaling of its ``anger_group`` logit, nothing else."""
    train(_config(tmp_path, "groups", epochs=1, group_outputs=True))
    scorer = load_scorer(tmp_path / "groups" / "artifact")
    assert isinstance(scorer, EmotionScorer)
    assert scorer.meta.outputs == (*GOEMOTIONS_LABELS, *GROUP_OUTPUTS)
    assert scorer.meta.anger.features == ("logit:anger_group",)
    texts = ["I am furious", "thanks a lot"]
    logits = scorer.logits(texts)
    assert logits.shape == (2, len(GOEMOTIONS_LABELS) + len(GROUP_OUTPUTS))
    column = scorer.meta.outputs.index("anger_group")
    for score, row in zip(scorer.score(texts), logits.tolist(), strict=True):
        z = scorer.meta.anger.intercept + scorer.meta.anger.coef[0] * row[column]
        assert score.anger == pytest.approx(1 / (1 + np.exp(-z)), abs=1e-6)
        assert set(score.emotions) == set(GOEMOTIONS_LABELS)  # the group outputs are not emotions


def test_the_final_dev_pass_is_shared_with_calibration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One pass over dev per epoch: thresholds and combiners reuse the last epoch's logits, not a pass of their own."""
    calls = []
    real = training.predict_logits

    def counting(*args: Any, **kwargs: Any) -> np.ndarray:
        calls.append(kwargs.get("progress"))
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "predict_logits", counting)
    train(_config(tmp_path, "once", epochs=2))
    assert calls == ["dev", "dev"]
    calls.clear()
    train(_config(tmp_path, "once", epochs=2, resume=True))  # resumed after its last epoch: fitting needs a pass
    assert calls == ["dev"]


def test_without_group_outputs_the_artifact_has_the_28_labels_only(tmp_path: Path) -> None:
    """The default recipe: 28 outputs; anger reads its group's noisy-OR, frustration that plus VADER."""
    train(_config(tmp_path, "plain", epochs=1))
    scorer = load_scorer(tmp_path / "plain" / "artifact")
    assert isinstance(scorer, EmotionScorer)
    assert scorer.meta.outputs == GOEMOTIONS_LABELS
    assert scorer.meta.anger.features == ("any_of:anger,annoyance,disgust",)
    assert scorer.meta.frustration.features == (
        "any_of:anger,annoyance,disappointment,disapproval",
        "vader_negativity",
    )
    assert scorer.logits(["I am furious"]).shape == (1, len(GOEMOTIONS_LABELS))
