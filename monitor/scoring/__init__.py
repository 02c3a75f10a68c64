"""The scoring stage: text in, :class:`~monitor.schemas.TurnScores` out.

Every scorer speaks the small :class:`Scorer` protocol (``score(texts) -> list[TurnScores]``), so the pipeline
and the rule tests can run on a deterministic scorer while the service loads the trained transformer.
Scorers are synchronous and CPU-bound on purpose: the service calls them from a bounded executor
(:mod:`monitor.scoring.batching`), never on the event loop.

Where things are: ``onnx_model.py`` runs the network (ONNX Runtime, the default), ``calibration.py`` is how
anger and frustration are computed from its outputs, ``emphasis.py`` the shouting/"!!!"/chasing features the
network reads beside the text, ``artifact.py`` the artifact's files and checks, ``hf_directory.py`` any Hugging
Face classifier directory (needs torch), ``vader.py`` the lexicon signal, ``cpu.py`` what the CPU offers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from monitor.errors import ModelArtifactError
from monitor.schemas import TurnScores
from monitor.scoring.vader import VaderScorer, VaderSentiment

__all__ = ["Scorer", "VaderScorer", "VaderSentiment", "load_scorer"]


@runtime_checkable
class Scorer(Protocol):
    """Anything that scores a batch of texts; one result per text, in order."""

    name: str

    def score(self, texts: Sequence[str]) -> list[TurnScores]: ...


def load_scorer(kind: str = "model", model_path: Path | None = None, *, threads: int | None = None) -> Scorer:
    """The one factory: ``vader``, or the model — the packaged artifact, another artifact directory, or a
    Hugging Face sequence-classification directory (which needs torch: ``pip install 'calmwatch[train]'``).

    Raises :class:`~monitor.errors.ModelArtifactError` naming the path when the model cannot be loaded.
    """
    if kind == "vader":
        return VaderScorer()
    if kind != "model":
        raise ValueError(f"unknown scorer {kind!r}; expected 'model' or 'vader'")
    from monitor.scoring.artifact import META_FILE, ONNX_FILE, default_artifact_dir

    path = Path(model_path) if model_path is not None else default_artifact_dir()
    if not path.exists():
        raise ModelArtifactError(f"{path}: model directory does not exist")
    if (
        model_path is None
        or (path / ONNX_FILE).exists()
        or ((path / META_FILE).exists() and not (path / "config.json").exists())
    ):
        from monitor.scoring.onnx_model import OnnxEmotionScorer

        return OnnxEmotionScorer(path, threads=threads)
    from monitor.scoring.hf_directory import HFDirectoryScorer

    return HFDirectoryScorer(path, threads=threads)
