"""Threshold suggestions from feedback: the setting that would have kept the helpful alerts and dropped the
false alarms, with its precision and recall on that feedback. Pure functions; applying one is an admin's
decision (:mod:`monitor.rules.overrides`), never automatic.

Only rules whose detector fires on one score crossing one parameter can be tuned this way (a suggestion for
``sustained anger over three turns`` would need the whole turn history, not one number). :data:`KNOBS` names
them: the ``anger`` detector's ``threshold`` against the raising turn's anger, and the ``frustration``
detector's ``threshold`` against its frustration (only its ``high`` outcome: the ``rising`` one fires below the
threshold on purpose and is left out).

Alerts fire only at or above the current threshold, so the feedback says nothing about lower values: a
suggestion can only raise a threshold. The candidate values sit just above each false alarm's score; the one
with the best F1 (harmonic mean of precision and recall, on the feedback) wins, ties going to the lower
value (fewer helpful alerts lost). A suggestion is made once a rule has ``min_feedback`` verdicts, at least one
of each kind, and only if it beats the current threshold's F1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from monitor.schemas import Alert, TurnRecord


@dataclass(frozen=True)
class Knob:
    """A detector parameter that is one score's threshold, and how to read that score for an alert."""

    param: str
    score: Callable[[TurnRecord], float | None]  # None: the turn was not scored (it cannot have raised the alert)
    applies: Callable[[Alert], bool]


KNOBS: dict[str, Knob] = {
    "anger": Knob("threshold", lambda t: t.scores.anger if t.scores else None, lambda a: True),
    "frustration": Knob(
        "threshold", lambda t: t.scores.frustration if t.scores else None, lambda a: a.reason.startswith("high:")
    ),
}


@dataclass(frozen=True)
class Judged:
    """One alert with a verdict: the score its rule's threshold is compared with, and whether it helped."""

    score: float
    helpful: bool


@dataclass(frozen=True)
class Fit:
    threshold: float
    kept: int
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class Suggestion:
    rule: str
    param: str
    scope: str  # "all", or a team name
    current: Fit
    suggested: Fit
    helpful: int
    false_alarms: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def fit(points: Sequence[Judged], threshold: float) -> Fit:
    """Precision and recall, on the feedback, of keeping only the alerts scoring at least ``threshold``."""
    kept = [p for p in points if p.score >= threshold]
    helpful_total = sum(p.helpful for p in points)
    helpful_kept = sum(p.helpful for p in kept)
    precision = helpful_kept / len(kept) if kept else 0.0
    recall = helpful_kept / helpful_total if helpful_total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Fit(round(threshold, 2), len(kept), round(precision, 4), round(recall, 4), round(f1, 4))


def _just_above(score: float) -> float:
    """The smallest two-decimal value above ``score`` (thresholds in packs are written with two decimals)."""
    return math.floor(score * 100 + 1e-9) / 100 + 0.01


def suggest(
    rule: str, param: str, current: float, points: Sequence[Judged], *, min_feedback: int, scope: str = "all"
) -> Suggestion | None:
    """The threshold the feedback argues for, or ``None`` (too little feedback, or nothing better than now)."""
    helpful = sum(p.helpful for p in points)
    false_alarms = len(points) - helpful
    if len(points) < min_feedback or not helpful or not false_alarms:
        return None
    now = fit(points, current)
    candidates = sorted({round(_just_above(p.score), 2) for p in points if not p.helpful and p.score >= current})
    best: Fit | None = None
    for value in candidates:
        if value > 1.0:
            continue
        trial = fit(points, value)
        if best is None or trial.f1 > best.f1:
            best = trial
    if best is None or best.f1 <= now.f1:
        return None
    return Suggestion(rule, param, scope, now, best, helpful, false_alarms)
