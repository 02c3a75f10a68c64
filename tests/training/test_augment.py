"""Word-swap augmentation: copies keep their labels, swap within a group, keep case, and leave dev alone."""

from __future__ import annotations

import numpy as np

from monitor.training.augment import HELD_OUT, SWAP_GROUPS, augment, swaps
from monitor.training.corpora import OUTPUTS, LabelledSet


def test_a_swap_replaces_every_use_of_the_word_with_another_of_its_group() -> None:
    rng = np.random.default_rng(0)
    variants = swaps("Angry. So ANGRY. Still angry", rng, copies=3)
    assert len(variants) == len(set(variants)) == 3
    for v in variants:
        first = v.split(".")[0]
        assert first.lower() in SWAP_GROUPS["anger"] and first.lower() != "angry" and first[0].isupper()
        assert v == f"{first}. So {first.upper()}. Still {first.lower()}"


def test_phrases_are_found_whole_and_words_outside_the_groups_are_left() -> None:
    rng = np.random.default_rng(1)
    for v in swaps("he was pissed off at me", rng, copies=7):
        assert " off " not in v and "pissed" not in v
    assert all("fed up" not in v for v in swaps("I am fed up with this", rng))
    assert swaps("my order is late", rng) == []
    assert swaps("madness, angrybirds", rng) == []  # whole words only; "mad" is in no group
    for group, words in HELD_OUT.items():
        assert not set(words) & set(SWAP_GROUPS[group])
        assert all(swaps(f"I am {w}", rng) == [] for w in words)  # the probe words are never taught


def test_copies_carry_the_source_row_labels_and_mask() -> None:
    n = len(OUTPUTS)
    targets = np.zeros((3, n), np.float32)
    targets[1, -2] = 1.0
    mask = np.zeros((3, n), np.float32)
    mask[:, -2:] = 1.0
    mask[2, -1] = 0.0
    s = LabelledSet("xed", "train", ["calm words", "I am furious", "not annoyed"], targets, mask)
    (out,), added = augment([s], seed=5, copies=2)
    assert added == 4 and len(out) == 7 and out.texts[:3] == s.texts
    assert np.array_equal(out.targets[3:5], targets[[1, 1]]) and np.array_equal(out.mask[5:7], mask[[2, 2]])
    assert augment([s], seed=5, copies=2)[0][0].texts == out.texts  # seeded
    assert augment([s], seed=5, copies=0) == ([s], 0)
