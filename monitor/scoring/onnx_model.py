"""The service's scorer: the artifact's ONNX graph on ONNX Runtime, the ``tokenizers`` tokenizer, no torch.

Turns of a batch are tokenized together. An fp32 graph runs them sorted by length in chunks of at most
:data:`TOKEN_BUDGET` padded tokens (masked mean pooling makes a row's result independent of the padding around
it). An int8 graph runs them one row at a time: its activations are quantised dynamically with one scale per
tensor, so in a chunk a turn's score would depend on its neighbours (by up to 0.08 on the check set); one at a
time, the same turn always gets the same score, in the service, in replay and in the evaluation, for a few per
cent of throughput at most (docs/performance.md). The session
runs with an explicit number of intra-op threads (``CALMWATCH_SCORING_THREADS``: the cores given to scoring)
and one inter-op thread, as the micro-batcher calls it from one executor thread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from monitor.errors import ModelArtifactError
from monitor.schemas import TurnScores
from monitor.scoring.artifact import ONNX_FILE, TOKENIZER_FILE, ArtifactMeta, read_meta, verify_file
from monitor.scoring.chunking import TOKEN_BUDGET, padded_chunks
from monitor.scoring.cpu import CpuInfo, choose_graph, cpu_info
from monitor.scoring.emphasis import EMPHASIS_FEATURES, emphasis_features
from monitor.scoring.normalize import NORMALIZATIONS, model_text
from monitor.scoring.vader import VaderSentiment

#: An optional fp32 graph beside the int8 one, for CPUs without int8 dot products (``calmwatch export --fp32``).
FP32_ONNX_FILE = "model-fp32.onnx"

log = structlog.get_logger("scoring")


def load_tokenizer(path: Path, max_length: int) -> Any:
    """The artifact's ``tokenizer.json`` with truncation at ``max_length`` and no padding (we pad per chunk)."""
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on a bad file
        raise ModelArtifactError(f"{path}: unreadable tokenizer: {exc}") from exc
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


class OnnxEmotionScorer:
    """Calibrated ``anger``/``frustration``, 28 emotion probabilities and VADER sentiment, from an artifact."""

    name = "model"

    def __init__(
        self,
        artifact_dir: Path,
        *,
        threads: int | None = None,
        graph: Path | None = None,
        precision: str = "int8",
        cpu: CpuInfo | None = None,
        verify: bool = True,
    ) -> None:
        import onnxruntime as ort

        self.meta: ArtifactMeta = read_meta(artifact_dir)
        cpu = cpu or cpu_info()
        if graph is None:
            available = {self.meta.onnx.get("precision", "int8"): verify_file(artifact_dir, self.meta, ONNX_FILE)}
            if (artifact_dir / FP32_ONNX_FILE).is_file() and self.meta.sha256.get(FP32_ONNX_FILE):
                available["fp32"] = verify_file(artifact_dir, self.meta, FP32_ONNX_FILE)
            self.precision, graph = choose_graph(available, cpu)
        else:
            self.precision = precision  # a graph given by path (the int8 check, the benchmark) says what it is
        tokenizer_path = (
            verify_file(artifact_dir, self.meta, TOKENIZER_FILE) if verify else artifact_dir / TOKENIZER_FILE
        )
        self._tokenizer = load_tokenizer(tokenizer_path, self.meta.max_length)
        self._pad_id = self._tokenizer.token_to_id("[PAD]") or 0
        self.threads = threads or cpu.cores
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for a bad graph
            raise ModelArtifactError(f"{graph}: ONNX Runtime cannot load the graph: {exc}") from exc
        self._n_features = len(self.meta.emphasis_features)
        if self.meta.emphasis_features != EMPHASIS_FEATURES[: self._n_features]:
            raise ModelArtifactError(
                f"{artifact_dir}: emphasis features {self.meta.emphasis_features} are not this version's"
            )
        if self.meta.text_normalization not in NORMALIZATIONS:
            raise ModelArtifactError(
                f"{artifact_dir}: text normalization {self.meta.text_normalization!r} is not this version's"
            )
        self._vader = VaderSentiment()
        log.info("scorer_loaded", artifact=str(artifact_dir), precision=self.precision, threads=self.threads,
                 cpu=cpu.summary())  # fmt: skip

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Word-piece ids per text as the network reads it (normalised, truncated to the artifact's ``max_length``)."""
        return self._encode([model_text(t, self.meta.text_normalization) for t in texts])

    def _encode(self, model_texts: list[str]) -> list[list[int]]:
        return [encoding.ids for encoding in self._tokenizer.encode_batch(model_texts)]

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw logits, shape ``(len(texts), outputs)``, in input order (the benchmark's "raw model" path)."""
        out = np.zeros((len(texts), len(self.meta.outputs)), dtype=np.float32)
        if not texts:
            return out
        model_texts = [model_text(t, self.meta.text_normalization) for t in texts]
        ids = self._encode(model_texts)
        features = np.asarray([emphasis_features(t)[: self._n_features] for t in model_texts], dtype=np.float32)
        features = features.reshape(len(texts), self._n_features)
        budget = 0 if self.precision == "int8" else TOKEN_BUDGET  # 0: one row per run (see the module docstring)
        for rows, input_ids, mask in padded_chunks(ids, budget, self._pad_id):
            feeds = {"input_ids": input_ids, "attention_mask": mask, "emphasis": features[rows]}
            out[rows] = self._session.run(["logits"], feeds)[0]
        return out

    def score(self, texts: Sequence[str]) -> list[TurnScores]:
        if not texts:
            return []
        return scores_from_logits(self.meta, texts, self.logits(texts), self._vader)


def scores_from_logits(
    meta: ArtifactMeta, texts: Sequence[str], logits: np.ndarray, vader: VaderSentiment
) -> list[TurnScores]:
    """The network's logits -> calibrated anger/frustration, emotion probabilities, VADER sentiment (one per text).

    Shared with the benchmark's torch path, so both runtimes are compared on exactly the same post-processing.
    """
    scores: list[TurnScores] = []
    for text, row in zip(texts, np.asarray(logits, dtype=np.float64).tolist(), strict=True):
        by_output = dict(zip(meta.outputs, row, strict=True))
        compound = vader.compound(text)
        scores.append(
            TurnScores(
                anger=meta.anger(by_output, compound),
                frustration=meta.frustration(by_output, compound),
                sentiment=compound,
                emotions={k: 1.0 / (1.0 + math.exp(-by_output[k])) for k in meta.labels},
            )
        )
    return scores
