"""Length-sorted, padded chunks of token ids: how every runtime here feeds a batch of turns to the network."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

#: Padded tokens per forward pass (rows x longest row of a chunk); re-measured with ONNX Runtime (bench/).
TOKEN_BUDGET = 1024


def padded_chunks(
    ids: Sequence[Sequence[int]], budget: int, pad_id: int
) -> Iterator[tuple[list[int], np.ndarray, np.ndarray]]:
    """``(rows, input_ids, attention_mask)`` per chunk, int64, rows sorted by length and grown while the chunk's
    padded size stays within ``budget`` (0: one row per chunk). ``rows`` index ``ids``, so results can be put
    back in the caller's order; masked mean pooling makes a row's result independent of its padding."""
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and (end - start + 1) * len(ids[order[end]]) <= budget:
            end += 1
        rows = order[start:end]
        width = len(ids[rows[-1]])
        input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(rows):
            input_ids[r, : len(ids[i])] = ids[i]
            mask[r, : len(ids[i])] = 1
        yield rows, input_ids, mask
        start = end
