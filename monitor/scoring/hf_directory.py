"""Any Hugging Face sequence-classification directory as a scorer (``CALMWATCH_MODEL_PATH=<dir>``); needs torch.

``emotions`` are the model's probabilities per ``id2label`` entry (sigmoid for multi-label models, softmax
otherwise). Without a calibration, ``anger`` is the probability that at least one label of :data:`ANGER_GROUP`
applies, treating them as independent (``1 - prod(1 - p)``), and ``frustration`` the same over
:data:`FRUSTRATION_GROUP`; labels the directory lacks count as 0. A ``calmwatch.json`` in the directory with a
``calibration`` block (:class:`~monitor.scoring.calibration.LogisticCombiner` over ``logit:<label>`` and
``vader_negativity``) is used instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monitor.errors import ModelArtifactError
from monitor.schemas import TurnScores
from monitor.scoring.artifact import META_FILE, SERVE_MAX_LENGTH
from monitor.scoring.calibration import LogisticCombiner
from monitor.scoring.chunking import TOKEN_BUDGET, padded_chunks
from monitor.scoring.vader import VaderSentiment

ANGER_GROUP: tuple[str, ...] = ("anger", "annoyance", "disgust")
FRUSTRATION_GROUP: tuple[str, ...] = ("anger", "annoyance", "disappointment", "disapproval")


def _import_torch() -> Any:
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise ModelArtifactError(
            "a Hugging Face model directory needs torch and transformers, which the service does not install: "
            "pip install 'calmwatch[train]' (or use the packaged ONNX artifact: unset CALMWATCH_MODEL_PATH)"
        ) from exc
    return torch


class HFDirectoryScorer:
    """A Hugging Face classifier with an ``id2label`` map, run with torch on the CPU."""

    name = "model"

    def __init__(self, model_dir: Path, *, threads: int | None = None) -> None:
        torch = _import_torch()
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        config_path = model_dir / "config.json"
        if not config_path.is_file():
            raise ModelArtifactError(f"{config_path}: missing; CALMWATCH_MODEL_PATH must be a HF model directory")
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
            self.model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelArtifactError(f"{model_dir}: cannot load a sequence-classification model: {exc}") from exc
        self.model.eval()
        id2label = self.model.config.id2label or {}
        self.labels = tuple(str(id2label[i]) for i in range(self.model.config.num_labels))
        if not self.labels or all(label.startswith("LABEL_") for label in self.labels):
            raise ModelArtifactError(f"{config_path}: no id2label map naming the labels")
        self._multi_label = self.model.config.problem_type != "single_label_classification"
        self._max_length = min(SERVE_MAX_LENGTH, int(getattr(self.model.config, "max_position_embeddings", 512)))
        self._vader = VaderSentiment()
        self._calibration: tuple[LogisticCombiner, LogisticCombiner] | None = None
        extra = model_dir / META_FILE
        if extra.is_file():
            cal = json.loads(extra.read_text()).get("calibration")
            if cal:
                self._calibration = (
                    LogisticCombiner.from_json(cal["anger"]),
                    LogisticCombiner.from_json(cal["frustration"]),
                )

    def logits(self, texts: Sequence[str]) -> Any:
        """Raw logits ``(len(texts), labels)`` over length-sorted chunks of ``TOKEN_BUDGET`` padded tokens."""
        import torch

        if not texts:
            return torch.empty((0, len(self.labels)))
        ids: list[list[int]] = self._tokenizer(list(texts), truncation=True, max_length=self._max_length)["input_ids"]
        out: list[Any] = [None] * len(ids)
        pad_id = int(self._tokenizer.pad_token_id or 0)
        with torch.inference_mode():
            for rows, input_ids, mask in padded_chunks(ids, TOKEN_BUDGET, pad_id):
                batch = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}
                for i, row in zip(rows, self.model(**batch).logits, strict=True):
                    out[i] = row
        return torch.stack(out)

    def score(self, texts: Sequence[str]) -> list[TurnScores]:
        import torch

        if not texts:
            return []
        logits = self.logits(texts)
        probs = torch.sigmoid(logits) if self._multi_label else torch.softmax(logits, dim=-1)
        out: list[TurnScores] = []
        for text, row, prow in zip(texts, logits.tolist(), probs.tolist(), strict=True):
            compound = self._vader.compound(text)
            emotions = {label.lower(): p for label, p in zip(self.labels, prow, strict=True)}
            if self._calibration is not None:
                by_label = {label.lower(): v for label, v in zip(self.labels, row, strict=True)}
                anger = self._calibration[0](by_label, compound)
                frustration = self._calibration[1](by_label, compound)
            else:
                anger = any_of(emotions, ANGER_GROUP)
                frustration = any_of(emotions, FRUSTRATION_GROUP)
            out.append(TurnScores(anger=anger, frustration=frustration, sentiment=compound, emotions=emotions))
        return out


def any_of(probs: Mapping[str, float], group: Sequence[str]) -> float:
    """Probability that at least one label of the group applies, reading them as independent."""
    none = 1.0
    for label in group:
        none *= 1.0 - probs.get(label, 0.0)
    return min(1.0, max(0.0, 1.0 - none))
