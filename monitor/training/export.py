"""``calmwatch export``: the trained weights -> ``model.onnx`` + ``tokenizer.json`` + checksums in ``calmwatch.json``.

Written by ``calmwatch train`` at the end of a run, and re-created from ``weights.safetensors`` by
``calmwatch export``. The graph takes ``input_ids``, ``attention_mask`` (int64, batch x tokens) and ``emphasis``
(float32, batch x features) and returns ``logits`` (batch x outputs). It is quantised to int8 (dynamic,
per-channel weights) when that keeps anger and frustration within :data:`INT8_MAX_MEAN_ABS` of fp32 on the
check texts and their ROC-AUC within :data:`INT8_MAX_AUC_DROP`; otherwise fp32 is shipped.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monitor.scoring.artifact import (
    ONNX_FILE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    ArtifactMeta,
    read_meta,
    sha256_file,
)
from monitor.scoring.network import FROZEN_PARAMETERS, MeanPoolClassifier, base_model_dir, build_from_base
from monitor.training.corpora import ANGER_COLUMN, CORPORA, FRUSTRATION_COLUMN, LabelledSet, read_corpus

INT8_MAX_MEAN_ABS = 0.02
INT8_MAX_AUC_DROP = 0.005
OPSET = 17


def load_weights(artifact_dir: Path, meta: ArtifactMeta) -> MeanPoolClassifier:
    """Rebuild the torch network from the base package and ``weights.safetensors`` (checksums verified)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from monitor.errors import ModelArtifactError
    from monitor.scoring.artifact import verify_file

    weights_path = verify_file(artifact_dir, meta, WEIGHTS_FILE)
    base_weights = base_model_dir() / "model.safetensors"
    expected_base = meta.sha256.get("base:model.safetensors")
    if expected_base and sha256_file(base_weights) != expected_base:
        raise ModelArtifactError(
            f"{base_weights}: base encoder checksum mismatch; the artifact was trained on {meta.base_package}"
        )
    model = build_from_base(len(meta.outputs), len(meta.emphasis_features))
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError) as exc:
        raise ModelArtifactError(f"{weights_path}: unreadable safetensors file: {exc}") from exc
    missing, unexpected = model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    missing = [k for k in missing if k not in FROZEN_PARAMETERS]
    if missing or unexpected:
        raise ModelArtifactError(
            f"{weights_path}: weights do not fit the network (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    model.eval()
    return model


def export_fp32(model: MeanPoolClassifier, path: Path) -> None:
    """Trace the network to ONNX with dynamic batch and sequence axes."""
    model.eval()
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.long)
    mask = (ids != 0).long()
    feats = torch.zeros((2, model.num_features), dtype=torch.float32)
    torch.onnx.export(
        model,
        (ids, mask, feats),
        str(path),
        input_names=["input_ids", "attention_mask", "emphasis"],
        output_names=["logits"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "tokens"},
            "attention_mask": {0: "batch", 1: "tokens"},
            "emphasis": {0: "batch"},
            "logits": {0: "batch"},
        },
        opset_version=OPSET,
        dynamo=False,
    )


def quantize_int8(src: Path, dst: Path) -> None:
    """Dynamic int8 quantisation, per-channel weights (MatMul and the embedding Gather)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), per_channel=True, weight_type=QuantType.QInt8)


@dataclass
class CheckSet:
    """Texts the int8 graph is compared on, with anger/frustration labels where known (``(rows, labels)``)."""

    texts: list[str]
    labels: dict[str, tuple[np.ndarray, np.ndarray]]
    source: str

    @classmethod
    def from_jsonl(cls, path: Path) -> CheckSet:
        """A JSONL file of ``{"text", "anger", "frustration"}`` objects (``models/eval/customer_service.jsonl``)."""
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        labels = {}
        for score in ("anger", "frustration"):
            idx = np.asarray([i for i, r in enumerate(rows) if score in r], dtype=int)
            labels[score] = (idx, np.asarray([float(rows[i][score]) for i in idx]))
        return cls([r["text"] for r in rows], labels, str(path))


def finish_artifact(model: MeanPoolClassifier, meta: ArtifactMeta, out_dir: Path, *, check: CheckSet | None) -> None:
    """Copy the tokenizer, export (and maybe quantise) the graph, record checksums, write ``calmwatch.json``.

    ``check=None`` skips the graph (``calmwatch train --no-export``; ``calmwatch export`` writes it later).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(base_model_dir() / "tokenizer.json", out_dir / TOKENIZER_FILE)
    meta.sha256 = {
        WEIGHTS_FILE: sha256_file(out_dir / WEIGHTS_FILE),
        TOKENIZER_FILE: sha256_file(out_dir / TOKENIZER_FILE),
        "base:model.safetensors": sha256_file(base_model_dir() / "model.safetensors"),
    }
    meta.sha256.pop(ONNX_FILE, None)
    meta.onnx = {}
    if check is not None:
        meta.write(out_dir)  # the scorer that runs the check reads calmwatch.json
        meta.onnx = write_onnx(model, out_dir, check)
        meta.sha256[ONNX_FILE] = sha256_file(out_dir / ONNX_FILE)
    meta.write(out_dir)


def write_onnx(model: MeanPoolClassifier, out_dir: Path, check: CheckSet) -> dict[str, Any]:
    """Export fp32, quantise, compare both on the check texts, keep int8 if it holds; returns the ``onnx`` block."""
    from monitor.training.int8_check import compare_precisions

    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        export_fp32(model, fp32)
        quantize_int8(fp32, int8)
        result = compare_precisions(fp32, int8, out_dir, check.texts, check.labels)
        holds = result["max_mean_abs"] <= INT8_MAX_MEAN_ABS and result["max_auc_drop"] <= INT8_MAX_AUC_DROP
        shutil.copyfile(int8 if holds else fp32, out_dir / ONNX_FILE)
    result["source"] = check.source
    return {"precision": "int8" if holds else "fp32", "opset": OPSET, "int8_check": result}


def labelled_check(sets: Sequence[LabelledSet], source: str) -> CheckSet:
    """Corpus splits as a check set: their texts, with anger/frustration labels where the corpus has them."""
    targets = np.concatenate([s.targets for s in sets])
    mask = np.concatenate([s.mask for s in sets])
    labels = {}
    for score, column in (("anger", ANGER_COLUMN), ("frustration", FRUSTRATION_COLUMN)):
        rows = np.flatnonzero(mask[:, column] > 0)
        labels[score] = (rows, targets[rows, column])
    return CheckSet([t for s in sets for t in s.texts], labels, source)


def dev_mix_check(data_dir: Path) -> CheckSet:
    """Every corpus's dev split under ``data_dir``: what ``calmwatch train`` checks the int8 graph on."""
    return labelled_check([read_corpus(data_dir, corpus, "dev") for corpus in CORPORA], "dev mix")


def export_command(artifact_dir: Path, check_path: Path, data_dir: Path | None = None) -> int:
    """``calmwatch export``: re-create ``model.onnx`` (and the checksums) from the artifact's weights.

    With ``data_dir`` the int8 graph is checked on the dev mix, as ``calmwatch train`` does; otherwise on the
    JSONL at ``check_path``.
    """
    meta = read_meta(artifact_dir)
    model = load_weights(artifact_dir, meta)
    if data_dir is not None:
        check = dev_mix_check(data_dir)
    elif check_path.is_file():
        check = CheckSet.from_jsonl(check_path)
    else:
        raise FileNotFoundError(f"{check_path}: the int8 check set is missing (a JSONL of text/anger/frustration)")
    finish_artifact(model, meta, artifact_dir, check=check)
    print(f"wrote {artifact_dir / ONNX_FILE}: {meta.onnx['precision']}, check {json.dumps(meta.onnx['int8_check'])}")
    return 0
