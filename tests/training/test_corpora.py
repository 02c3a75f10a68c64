"""The corpora: label mapping and masks per corpus, stable hash splits, ConvAbuse majorities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.training.corpora import (
    ANGER_COLUMN,
    FRUSTRATION_COLUMN,
    OUTPUTS,
    complaint_frustration,
    convabuse_is_abusive,
    hash_split,
    read_corpus,
)

DATA = Path(__file__).parent.parent / "fixtures" / "corpora"


def test_goemotions_labels_all_emotions_and_maps_the_anger_group() -> None:
    """GoEmotions labels all 30 outputs; chat anger is its anger group, frustration anger or annoyance."""
    s = read_corpus(DATA, "goemotions", "train")
    assert s.mask.shape == (24, len(OUTPUTS)) and s.mask.min() == 1.0
    row = s.texts.index("I'm furious they cancelled it")
    assert s.targets[row, OUTPUTS.index("anger")] == 1.0
    assert s.targets[row, ANGER_COLUMN] == 1.0 and s.targets[row, FRUSTRATION_COLUMN] == 1.0


def test_other_corpora_label_only_the_chat_outputs() -> None:
    """complaints-xci labels both chat outputs, xed and convabuse anger only; emotions are always masked."""
    n = len(OUTPUTS) - 2
    for corpus, frustration in (("complaints-xci", True), ("xed", False), ("convabuse", False)):
        s = read_corpus(DATA, corpus, "train")
        assert s.mask[:, :n].max() == 0.0
        assert s.mask[:, ANGER_COLUMN].min() == 1.0
        assert bool(s.mask[:, FRUSTRATION_COLUMN].max()) is frustration


def test_only_a_complaint_with_reproach_is_frustration() -> None:
    """Reproach (Severity >= 2) is 1; a plain complaint (Severity 1) and no complaint are 0."""
    assert complaint_frustration("1", "3") == 1.0 and complaint_frustration("1", "2") == 1.0
    assert complaint_frustration("1", "1") == 0.0
    assert complaint_frustration("0", "0") == 0.0


def test_banking_queries_are_calm_even_when_something_went_wrong() -> None:
    """Every Banking77 query is labelled anger 0 and frustration 0, "my card is not working" included."""
    s = read_corpus(DATA, "banking77", "train")
    assert any("not working" in text for text in s.texts)
    for column in (ANGER_COLUMN, FRUSTRATION_COLUMN):
        assert s.targets[:, column].max() == 0.0 and s.mask[:, column].min() == 1.0


def test_convabuse_majority_and_unrated_turns() -> None:
    """Abusive when more than half of the raters said -1..-3; a turn nobody rated is dropped."""
    row = {"Annotator1_is_abuse.-2": "1", "Annotator2_is_abuse.1": "1", "Annotator3_is_abuse.-1": "1"}
    assert convabuse_is_abusive(row) is True
    assert convabuse_is_abusive({"Annotator1_is_abuse.-2": "1", "Annotator2_is_abuse.1": "1"}) is False
    assert convabuse_is_abusive({"Annotator1_is_abuse.1": "0"}) is None
    s = read_corpus(DATA, "convabuse", "train")
    assert "nobody rated this" not in s.texts
    assert s.targets[s.texts.index("shut up you idiot"), ANGER_COLUMN] == 1.0


def test_hash_splits_are_stable_and_disjoint() -> None:
    """A text always lands in the same split, whatever its case or surrounding spaces; splits do not overlap."""
    assert hash_split("Hello there", (70, 85)) == hash_split("  hello there ", (70, 85))
    splits = {name: set(read_corpus(DATA, "xed", name).texts) for name in ("train", "dev", "test")}
    assert not (splits["train"] & splits["dev"]) and not (splits["train"] & splits["test"])
    assert sum(len(v) for v in splits.values()) == 22


def test_a_missing_corpus_folder_is_named(tmp_path: Path) -> None:
    """Pointing --data at the wrong folder names what is missing."""
    with pytest.raises(FileNotFoundError, match="goemotions"):
        read_corpus(tmp_path, "goemotions", "train")
    with pytest.raises(ValueError, match="unknown corpus"):
        read_corpus(DATA, "reddit", "train")


def test_masks_are_zero_or_one() -> None:
    """Masks are 0/1 everywhere (soft values live only in the targets)."""
    for corpus in ("goemotions", "complaints-xci", "xed", "convabuse", "banking77"):
        assert set(np.unique(read_corpus(DATA, corpus, "train").mask)) <= {0.0, 1.0}
