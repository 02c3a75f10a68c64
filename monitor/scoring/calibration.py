"""How ``anger`` and ``frustration`` are computed from the network's outputs: this file, and only this file.

The network has two outputs trained for support chat, ``chat_anger`` and ``chat_frustration`` (see
``monitor/training/corpora.py`` for what each corpus teaches them). Their raw logits are not probabilities in a
support chat: the training mix has its own base rates. Each score is therefore a :class:`LogisticCombiner`,
``sigmoid(intercept + coef * logit)`` (Platt scaling), fitted by ``calmwatch train`` on a dev mix that is mostly
in-register (customer complaints, film dialogue, chats with agents, calm bank queries), so that 0.5 means "more
likely than not" in a support chat. The fitted numbers live in the artifact's ``calmwatch.json``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LogisticCombiner:
    """``sigmoid(intercept + sum(coef_i * feature_i))`` over named features (see :func:`feature_value`)."""

    features: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float

    def __call__(self, logits: Mapping[str, float], vader_compound: float = 0.0) -> float:
        z = self.intercept
        for name, weight in zip(self.features, self.coef, strict=True):
            z += weight * feature_value(name, logits, vader_compound)
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.features), "coef": list(self.coef), "intercept": self.intercept}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LogisticCombiner:
        return cls(tuple(data["features"]), tuple(float(c) for c in data["coef"]), float(data["intercept"]))


def feature_value(name: str, logits: Mapping[str, float], vader_compound: float) -> float:
    """One named input: ``logit:<output>`` is the network's logit for that output, ``vader_negativity`` is
    ``max(0, -compound)`` (for a Hugging Face directory calibrated by hand)."""
    if name.startswith("logit:"):
        return logits[name.removeprefix("logit:")]
    if name == "vader_negativity":
        return max(0.0, -vader_compound)
    raise ValueError(f"unknown calibration feature {name!r}")
