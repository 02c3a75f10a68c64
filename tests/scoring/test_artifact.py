"""The artifact's metadata and file checks, without loading a network."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.errors import ModelArtifactError
from monitor.scoring.artifact import META_FILE, ArtifactMeta, read_meta, sha256_file, verify_file
from monitor.scoring.calibration import LogisticCombiner


def _meta() -> ArtifactMeta:
    combiner = LogisticCombiner(("logit:chat_anger",), (1.0,), 0.0)
    return ArtifactMeta(("a", "chat_anger", "chat_frustration"), ("a",), (), {"a": 0.5}, combiner, combiner)


def test_metadata_round_trips_and_refuses_another_format(tmp_path: Path) -> None:
    """calmwatch.json written and read back is the same; a v1 artifact is refused by name."""
    meta = _meta()
    meta.write(tmp_path)
    assert read_meta(tmp_path) == meta
    data = json.loads((tmp_path / META_FILE).read_text())
    data["format"] = "calmwatch-emotions/1"
    (tmp_path / META_FILE).write_text(json.dumps(data))
    with pytest.raises(ModelArtifactError, match="calmwatch-emotions/1"):
        read_meta(tmp_path)


def test_verify_file_checks_presence_record_and_checksum(tmp_path: Path) -> None:
    """A file must exist, have a recorded sha256, and match it."""
    meta = _meta()
    (tmp_path / "x.bin").write_bytes(b"weights")
    with pytest.raises(ModelArtifactError, match="no sha256 recorded"):
        verify_file(tmp_path, meta, "x.bin")
    meta.sha256["x.bin"] = sha256_file(tmp_path / "x.bin")
    assert verify_file(tmp_path, meta, "x.bin") == tmp_path / "x.bin"
    (tmp_path / "x.bin").write_bytes(b"other")
    with pytest.raises(ModelArtifactError, match="checksum mismatch"):
        verify_file(tmp_path, meta, "x.bin")
    with pytest.raises(ModelArtifactError, match="missing"):
        verify_file(tmp_path, meta, "y.bin")
