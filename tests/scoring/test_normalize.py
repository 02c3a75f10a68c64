"""What the network reads: handles and links dropped, the rest of the text kept; the artifact decides."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from monitor.errors import ModelArtifactError
from monitor.scoring.artifact import META_FILE
from monitor.scoring.normalize import HANDLES_AND_LINKS, model_text
from monitor.scoring.onnx_model import OnnxEmotionScorer
from tests.tiny_models import build_tiny_artifact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@Chase @CNN why did you close my account?", "why did you close my account?"),
        ("my link https://t.co/abc123 and www.example.com/x broke", "my link and broke"),
        ("see https: //www.youtube.com/channel/UCW97 please", "see please"),  # a space after the colon, as in the data
        ("write to ana.diaz@example.com today", "write to ana.diaz@example.com today"),  # e-mails are not handles
        ("I am @ home", "I am @ home"),
        ("@Chase", "@Chase"),  # nothing left: the original text, so the network never reads an empty string
        ("WHY is this STILL broken?!", "WHY is this STILL broken?!"),  # capitals and "!" reach the emphasis features
    ],
)
def test_handles_and_links_are_dropped(text: str, expected: str) -> None:
    assert model_text(text, HANDLES_AND_LINKS) == expected


def test_raw_normalisation_keeps_the_text_and_unknown_ones_are_refused() -> None:
    assert model_text("@Chase hi https://x.y", "") == "@Chase hi https://x.y"
    with pytest.raises(ValueError, match="unknown text normalization"):
        model_text("hi", "lowercase/9")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same tiny network twice: trained (as far as the artifact says) on raw text, and on normalised text."""
    raw = build_tiny_artifact(tmp_path_factory.mktemp("tiny") / "artifact")
    normalised = tmp_path_factory.mktemp("tiny-norm") / "artifact"
    shutil.copytree(raw, normalised)
    meta = json.loads((normalised / META_FILE).read_text())
    meta["text_normalization"] = HANDLES_AND_LINKS
    (normalised / META_FILE).write_text(json.dumps(meta))
    return raw, normalised


def test_the_scorer_reads_what_the_artifact_was_trained_on(artifacts: tuple[Path, Path]) -> None:
    """A handle changes a raw-text artifact's logits and not a normalised one's; VADER still reads the whole text."""
    raw, normalised = (OnnxEmotionScorer(a) for a in artifacts)
    texts = ["@BigBank my card was declined twice", "my card was declined twice"]
    with_handle, without = normalised.logits(texts)
    assert with_handle.tolist() == without.tolist()
    raw_with, raw_without = raw.logits(texts)
    assert raw_with.tolist() != raw_without.tolist()
    assert normalised.token_ids(texts[:1]) == raw.token_ids(texts[1:])


def test_an_unknown_normalisation_is_a_clear_artifact_error(tmp_path: Path, artifacts: tuple[Path, Path]) -> None:
    bad = tmp_path / "artifact"
    shutil.copytree(artifacts[0], bad)
    meta = json.loads((bad / META_FILE).read_text())
    meta["text_normalization"] = "lowercase/9"
    (bad / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelArtifactError, match="text normalization 'lowercase/9'"):
        OnnxEmotionScorer(bad)
