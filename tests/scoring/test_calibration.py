"""How anger and frustration are computed: Platt scaling over named network outputs."""

from __future__ import annotations

import math

import pytest

from monitor.scoring.calibration import LogisticCombiner, feature_value


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def test_combiner_is_a_sigmoid_over_named_features() -> None:
    """sigmoid(intercept + coef . features) over logits and VADER negativity; JSON round-trips."""
    combiner = LogisticCombiner(("logit:chat_anger", "vader_negativity"), (0.5, 2.0), -1.0)
    assert combiner({"chat_anger": 2.0}, vader_compound=-0.5) == pytest.approx(_sigmoid(-1.0 + 1.0 + 1.0))
    assert combiner({"chat_anger": 2.0}, vader_compound=0.9) == pytest.approx(_sigmoid(0.0))
    assert LogisticCombiner.from_json(combiner.to_json()) == combiner


def test_extreme_logits_stay_finite() -> None:
    """A huge logit saturates at 1 instead of overflowing."""
    combiner = LogisticCombiner(("logit:x",), (1.0,), 0.0)
    assert combiner({"x": 1e6}) == pytest.approx(1.0) and combiner({"x": -1e6}) == pytest.approx(0.0)


def test_unknown_feature_is_an_error() -> None:
    """A misspelt feature name in calmwatch.json is refused, not read as 0."""
    with pytest.raises(ValueError, match="unknown calibration feature"):
        feature_value("any_of:anger", {"anger": 1.0}, 0.0)
