"""The training recipe: epoch sampling, the masked loss, the calibration's operating point, a tiny real run."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from monitor.scoring import load_scorer
from monitor.scoring.artifact import WEIGHTS_FILE, read_meta, sha256_file
from monitor.training.corpora import GOEMOTIONS_LABELS, OUTPUTS, LabelledSet
from monitor.training.recipe import (
    TrainConfig,
    bucketed_batches,
    encode,
    masked_loss,
    operating_point_shift,
    sample_epoch,
    train,
)

DATA = Path(__file__).parent.parent / "fixtures" / "corpora"


class _Tokenizer:
    def __call__(self, texts: list[str], **_: object) -> dict[str, list[list[int]]]:
        return {"input_ids": [[1] * (1 + len(t.split())) for t in texts]}


def _set(corpus: str, n: int) -> LabelledSet:
    return LabelledSet(corpus, "train", [f"text {i}" for i in range(n)],
                       np.zeros((n, len(OUTPUTS)), np.float32), np.ones((n, len(OUTPUTS)), np.float32))  # fmt: skip


def test_each_epoch_draws_the_asked_number_from_each_corpus() -> None:
    """A small corpus is repeated in whole permutations, a large one sampled; the draw is seeded."""
    data = encode([_set("a", 10), _set("b", 100)], _Tokenizer(), 64, use_emphasis=True)
    rows = sample_epoch(data, {"a": 25, "b": 30}, seed=1)
    a, b = rows[rows < 10], rows[rows >= 10]
    assert len(a) == 25 and len(b) == 30 and len(set(b.tolist())) == 30
    assert sorted(np.bincount(a, minlength=10).tolist()) == [2] * 5 + [3] * 5
    assert np.array_equal(rows, sample_epoch(data, {"a": 25, "b": 30}, seed=1))
    assert data.features.shape == (110, 4)


def test_bucketed_batches_cover_every_position_once_and_are_seeded() -> None:
    """Each position appears exactly once; the same seed gives the same batches; batches group similar lengths."""
    lengths = np.random.default_rng(0).integers(3, 60, size=1000).tolist()
    batches = bucketed_batches(lengths, 16, seed=7)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert batches == bucketed_batches(lengths, 16, seed=7) != bucketed_batches(lengths, 16, seed=8)
    assert np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches]) < 10


def test_masked_cells_teach_nothing() -> None:
    """A wrong prediction in a masked cell leaves the loss unchanged; the chat cells have their own mean."""
    logits = torch.zeros((2, len(OUTPUTS)))
    target = torch.zeros((2, len(OUTPUTS)))
    mask = torch.zeros((2, len(OUTPUTS)))
    mask[:, -2] = 1.0  # only chat_anger is labelled
    base = masked_loss(logits, target, mask, chat_weight=1.0)
    logits[:, 0] = 50.0  # a confident, wrong, but masked emotion
    assert masked_loss(logits, target, mask, chat_weight=1.0) == pytest.approx(float(base))
    assert float(base) == pytest.approx(float(np.log(2.0)), rel=1e-5)


def test_the_operating_point_moves_to_the_best_f1_and_respects_the_calm_set() -> None:
    """Positives at z=-1 and negatives at z=-3: the shift puts 0.5 between them, unless the calm rows forbid it."""
    z = np.array([-1.0] * 10 + [-3.0] * 10 + [-1.0] * 5)
    truth = np.array([True] * 10 + [False] * 15)
    groups = [(np.arange(20), 1.0)]
    assert (
        -1.0 + operating_point_shift(z, truth, groups, None)
        >= 0.0
        > -3.0 + operating_point_shift(z, truth, groups, None)
    )
    assert operating_point_shift(z, truth, groups, np.arange(20, 25)) < 1.0  # calm rows at -1 must stay below 0.5


def test_a_tolerance_raises_the_alerting_point_only_as_far_as_f1_allows() -> None:
    """One positive of 20 sits low (z=-2.5), just above 9 negatives: the F1-best point (F1 1.0) sits right under
    it; leaving it out costs 0.026 of F1, so with a tolerance of 0.05 the alerting point rises to the others."""
    z = np.array([-1.0] * 19 + [-2.5] + [-2.6] * 9 + [-3.0] * 20)
    truth = np.array([True] * 20 + [False] * 29)
    groups = [(np.arange(len(z)), 1.0)]
    strict = operating_point_shift(z, truth, groups, None)
    tolerant = operating_point_shift(z, truth, groups, None, tolerance=0.05)
    assert -2.5 + strict >= 0.0 > -2.6 + strict  # every positive caught, no negative
    assert -1.0 + tolerant >= 0.0 > -2.5 + tolerant  # 19 of 20 caught (F1 0.974): the highest such point


def _config(tmp_path: Path, name: str, **overrides: object) -> TrainConfig:
    base: dict[str, object] = {
        "data_dir": DATA,
        "out_dir": tmp_path / name / "artifact",
        "checkpoint_dir": tmp_path / name / "checkpoints",
        "epochs": 2,
        "batch_size": 8,
        "threads": 1,
        "checkpoint_every": 1000,
        "epoch_samples": dict.fromkeys(("goemotions", "complaints-xci", "xed", "convabuse", "banking77"), 8),
        "export": False,
    }
    base.update(overrides)
    return TrainConfig(**base)  # type: ignore[arg-type]


@pytest.mark.slow
def test_a_tiny_run_writes_an_artifact_and_resume_reproduces_it(tmp_path: Path) -> None:
    """Training on the fixtures offline writes a loadable artifact; stop + --resume gives identical weights."""
    summary = train(_config(tmp_path, "straight", export=True))
    artifact = tmp_path / "straight" / "artifact"
    assert summary["steps"] == 10 and len(summary["history"]) == 2
    meta = read_meta(artifact)
    assert meta.outputs == OUTPUTS and set(meta.thresholds) == set(GOEMOTIONS_LABELS)
    scores = load_scorer("model", artifact).score(["I am furious", "thanks a lot"])
    assert all(0.0 <= s.anger <= 1.0 for s in scores) and set(scores[0].emotions) == set(GOEMOTIONS_LABELS)

    assert train(_config(tmp_path, "resumed", stop_after_steps=7)) == {"stopped_at_step": 7}
    train(_config(tmp_path, "resumed", resume=True))
    assert sha256_file(tmp_path / "resumed" / "artifact" / WEIGHTS_FILE) == sha256_file(artifact / WEIGHTS_FILE)
    assert read_meta(tmp_path / "resumed" / "artifact").training["history"] == summary["history"]


@pytest.mark.slow
def test_resume_refuses_a_checkpoint_from_another_recipe(tmp_path: Path) -> None:
    """A checkpoint written with other hyper-parameters is not silently continued."""
    train(_config(tmp_path, "a", epochs=1, stop_after_steps=1))
    shutil.copytree(tmp_path / "a" / "checkpoints", tmp_path / "b" / "checkpoints")
    with pytest.raises(SystemExit, match="different recipe"):
        train(_config(tmp_path, "b", epochs=1, lr=5e-5, resume=True))


@pytest.mark.slow
def test_recalibrate_refits_the_dev_parts_and_leaves_the_weights(tmp_path: Path) -> None:
    """``python -m monitor.training.recalibrate``: new thresholds and calibration from the artifact's own weights on
    dev, the old calibration kept in the record, every checksummed file untouched, and the same answer twice."""
    from monitor.training.recalibrate import recalibrate

    train(_config(tmp_path, "run", epochs=1, export=True))
    artifact = tmp_path / "run" / "artifact"
    before = read_meta(artifact)
    first = recalibrate(artifact, DATA, threads=1)
    assert first.sha256 == before.sha256 and all(
        sha256_file(artifact / name) == digest for name, digest in before.sha256.items() if ":" not in name
    )
    record = first.training["recalibrated"]
    assert record["calibration_before"]["frustration"] == before.frustration.to_json()
    assert record["operating_point_tolerance"] == {"anger": 0.0, "frustration": 0.01}
    again = recalibrate(artifact, DATA, threads=1)
    assert again.anger == first.anger and again.frustration == first.frustration
    assert read_meta(artifact).thresholds == first.thresholds
    assert load_scorer("model", artifact).score(["I am furious"])[0].anger >= 0.0
