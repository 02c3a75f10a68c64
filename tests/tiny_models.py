"""Tiny model directories built on the spot, so model-loading code is tested without the real weights."""

from __future__ import annotations

from pathlib import Path

import torch

TINY_LABELS = ("anger", "joy", "annoyance")
_WORDS = ["i", "am", "so", "angry", "happy", "thanks", "you", "the", "order", "is", "late", "great", "nobody", "cares"]


def build_tiny_hf_model(target: Path, labels: tuple[str, ...] = TINY_LABELS, *, named: bool = True) -> Path:
    """A 1-layer BERT sequence classifier with its own word-level vocab, saved as a HF directory."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    target.mkdir(parents=True, exist_ok=True)
    vocab = target / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *_WORDS]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    id2label = {i: (name if named else f"LABEL_{i}") for i, name in enumerate(labels)}
    config = BertConfig(
        vocab_size=5 + len(_WORDS),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=len(labels),
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
        problem_type="multi_label_classification",
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(str(target))
    tokenizer.save_pretrained(str(target))
    return target


def build_tiny_artifact(target: Path, *, check_texts: tuple[str, ...] = ("I am so angry", "thanks!", "ok")) -> Path:
    """A real-format artifact around a 1-layer, 16-wide network with the real tokenizer: exported to ONNX and
    quantised by the recipe's own code, so loading and scoring are tested without the trained weights."""
    import numpy as np
    from transformers import BertConfig

    from monitor.scoring.artifact import ArtifactMeta
    from monitor.scoring.calibration import LogisticCombiner
    from monitor.scoring.emphasis import EMPHASIS_FEATURES
    from monitor.scoring.network import MeanPoolClassifier
    from monitor.training.corpora import GOEMOTIONS_LABELS, OUTPUTS
    from monitor.training.export import CheckSet, export_fp32, finish_artifact
    from monitor.training.recipe import save_weights

    config = BertConfig(
        vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=512,
    )  # fmt: skip
    torch.manual_seed(0)
    model = MeanPoolClassifier(config, len(OUTPUTS), len(EMPHASIS_FEATURES)).eval()
    meta = ArtifactMeta(
        outputs=OUTPUTS,
        labels=GOEMOTIONS_LABELS,
        emphasis_features=EMPHASIS_FEATURES,
        thresholds=dict.fromkeys(GOEMOTIONS_LABELS, 0.5),
        anger=LogisticCombiner(("logit:chat_anger",), (1.0,), 0.0),
        frustration=LogisticCombiner(("logit:chat_frustration",), (2.0,), -1.0),
    )
    save_weights(model, target)
    labels = {"anger": (np.arange(len(check_texts)), np.asarray([1.0] + [0.0] * (len(check_texts) - 1)))}
    finish_artifact(model, meta, target, check=CheckSet(list(check_texts), labels, "tiny"))
    export_fp32(model, target / "tiny-fp32.onnx")  # for tests that compare the two runtimes' paths
    return target
