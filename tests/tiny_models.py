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
