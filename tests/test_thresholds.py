"""Threshold suggestions: the value that keeps the helpful alerts and drops the false alarms, never a lower one."""

from __future__ import annotations

from monitor.thresholds import Judged, fit, suggest


def points(helpful: list[float], false: list[float]) -> list[Judged]:
    return [Judged(s, True) for s in helpful] + [Judged(s, False) for s in false]


def test_the_suggestion_drops_false_alarms_below_the_helpful_ones() -> None:
    """False alarms at 0.61-0.65, helpful at 0.7+: the suggestion is 0.66 with precision and recall 1."""
    found = suggest("anger", "threshold", 0.6, points([0.7, 0.8, 0.9], [0.61, 0.63, 0.65]), min_feedback=5)
    assert found is not None
    assert found.suggested.threshold == 0.66
    assert (found.suggested.precision, found.suggested.recall, found.suggested.kept) == (1.0, 1.0, 3)
    assert found.current.precision == 0.5 and found.current.recall == 1.0
    assert (found.helpful, found.false_alarms) == (3, 3)


def test_mixed_feedback_trades_precision_for_recall_by_f1() -> None:
    """A helpful alert among the false ones: the best F1 may give it up, and says so in its recall."""
    found = suggest("anger", "threshold", 0.6, points([0.62, 0.8, 0.85, 0.9], [0.61, 0.64, 0.66, 0.7]), min_feedback=5)
    assert found is not None
    assert found.suggested.threshold == 0.71 and found.suggested.recall == 0.75 and found.suggested.precision == 1.0


def test_no_suggestion_without_enough_feedback_or_without_both_verdicts() -> None:
    """Too few verdicts, only one kind, or nothing that beats the current threshold: no suggestion."""
    assert suggest("anger", "threshold", 0.6, points([0.9], [0.61]), min_feedback=5) is None
    assert suggest("anger", "threshold", 0.6, points([0.7, 0.8, 0.9, 0.95, 0.97], []), min_feedback=5) is None
    assert suggest("anger", "threshold", 0.6, points([0.61, 0.62, 0.63], [0.9, 0.95]), min_feedback=5) is None


def test_fit_counts_what_a_threshold_keeps() -> None:
    """fit() keeps scores at or above the threshold."""
    result = fit(points([0.7, 0.8], [0.65]), 0.7)
    assert (result.kept, result.precision, result.recall) == (2, 1.0, 1.0)
