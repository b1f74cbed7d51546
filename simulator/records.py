"""The tables a run records, as columns of int64: one row per op and one row per message.

Pure constants and conversions (no simulation imports), so figures and trace export can
read saved tables without the simulator.
"""

from __future__ import annotations

import numpy as np

# Op kinds in the op table: forward, backward, update, serve a weight request, add an all-reduce chunk.
KINDS = {"F": 0, "B": 1, "U": 2, "S": 3, "R": 4}
KIND_LETTERS = {code: letter for letter, code in KINDS.items()}  # 0 -> "F", ...
OPS_COLUMNS = ("layer", "kind", "sample", "start", "end", "row", "col")

# Message kinds: their code in the message table and their name in metrics and traces.
MESSAGE_KINDS = {"x": 0, "e": 1, "y": 2, "push": 3, "pull": 4, "weights": 5, "ring": 6}
MESSAGE_NAMES = {"x": "activations", "e": "deltas", "y": "labels", "push": "gradients", "pull": "weight requests",
                 "weights": "weights", "ring": "all-reduce chunks"}
# Source and destination PE (the I/O port is row 0, column -1), send and arrival cycles,
# size in bytes, kind code (MESSAGE_KINDS) and tag (the sample for x, e, y).
MESSAGE_COLUMNS = ("src_row", "src_col", "dst_row", "dst_col", "sent", "arrival", "nbytes", "kind", "tag")


def messages_table(messages: list[tuple]) -> dict[str, np.ndarray]:
    """A chip's message log, `(src, dst, sent, arrival, nbytes, kind, tag)` per message, as columns."""
    rows = [(src[0], src[1], dst[0], dst[1], sent, arrival, nbytes, _kind_code(kind), tag)
            for src, dst, sent, arrival, nbytes, kind, tag in messages]
    array = np.array(rows, dtype=np.int64).reshape(len(rows), len(MESSAGE_COLUMNS))
    return {name: np.ascontiguousarray(array[:, i]) for i, name in enumerate(MESSAGE_COLUMNS)}


def _kind_code(kind: str) -> int:
    try:
        return MESSAGE_KINDS[kind]
    except KeyError:
        raise ValueError(f"message kind {kind!r} has no code in simulator.records.MESSAGE_KINDS; add it") from None
