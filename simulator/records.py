"""The simulator's vocabulary and the tables a run records: op kinds, message kinds, and their records.

One table per vocabulary: every op kind (code in `ops.npz`, letter, name, colour in the
figures, category in the trace) and every message kind (key on the chip, code in
`messages.npz`, name in metrics and traces) is defined here once; everything else derives
from these tables. Pure constants and conversions (no simulation imports), so figures and
trace export can read saved tables without the simulator.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np


class OpKind(NamedTuple):
    """One kind of op a PE runs."""

    code: int  # in ops.npz
    letter: str  # what programs return and the pipeline diagram prints
    name: str  # legend text
    color: str  # pipeline diagram
    category: str  # trace.json slice category
    carries_sample: bool  # its tag is a sample id (else a batch, worker or step tag)


OP_KINDS = (
    OpKind(0, "F", "forward (F)", "#1f77b4", "forward", True),
    OpKind(1, "B", "backward (B)", "#ff7f0e", "backward", True),
    OpKind(2, "U", "update (U)", "#2ca02c", "update", False),
    OpKind(3, "S", "serve weights (S)", "#9467bd", "serve", False),
    OpKind(4, "R", "all-reduce add (R)", "#8c564b", "all-reduce", False),
    OpKind(5, "G", "synthetic gradient (G)", "#e377c2", "synthetic", True),
    OpKind(6, "T", "train synthetic module (T)", "#17becf", "synthetic", True),
    OpKind(7, "C", "recompute (C)", "#bcbd22", "recompute", True),
    OpKind(8, "W", "weight gradient (W)", "#d62728", "backward", True),  # zb-h1's split backward
    OpKind(9, "A", "region sum (A)", "#7f7f7f", "reduce", True),  # a layer region's partial sums added up
)


class MessageKind(NamedTuple):
    """One kind of message the network carries."""

    code: int  # in messages.npz
    key: str  # `Message.kind` on the chip
    name: str  # metrics.json network.by_kind and trace categories


MESSAGE_KIND_TABLE = (
    MessageKind(0, "x", "activations"),
    MessageKind(1, "e", "deltas"),
    MessageKind(2, "y", "labels"),
    MessageKind(3, "push", "gradients"),
    MessageKind(4, "pull", "weight requests"),
    MessageKind(5, "weights", "weights"),
    MessageKind(6, "ring", "all-reduce chunks"),
    MessageKind(7, "h", "synthetic-gradient inputs"),
    MessageKind(8, "g", "synthetic gradients"),
    MessageKind(9, "r", "recomputed activations"),
    MessageKind(10, "p", "partial sums"),  # a layer region: a block's W x to its row's end
    MessageKind(11, "d", "region deltas"),  # a layer region: dL/dz from a row's end to its blocks
    MessageKind(12, "q", "partial deltas"),  # a layer region: a block's W^T dz to its column's end
)

# Derived lookups.
KINDS = {k.letter: k.code for k in OP_KINDS}  # "F" -> 0
KIND_LETTERS = {k.code: k.letter for k in OP_KINDS}  # 0 -> "F"
KIND_COLORS = {k.code: k.color for k in OP_KINDS}
KIND_NAMES = {k.code: k.name for k in OP_KINDS}
OP_CATEGORIES = {k.code: k.category for k in OP_KINDS}
SAMPLE_KINDS = tuple(k.code for k in OP_KINDS if k.carries_sample)
MESSAGE_KINDS = {k.key: k.code for k in MESSAGE_KIND_TABLE}  # "x" -> 0
MESSAGE_NAMES = {k.key: k.name for k in MESSAGE_KIND_TABLE}  # "x" -> "activations"
MESSAGE_KEY_OF_CODE = {k.code: k.key for k in MESSAGE_KIND_TABLE}


class Message(NamedTuple):
    """What travels between PEs: its kind (a MESSAGE_KIND_TABLE key), a tag (the sample
    for x, e, y; the worker for data-parallel kinds) and its payload (None in timing-only runs)."""

    kind: str
    tag: int
    payload: Any


class Op(NamedTuple):
    """What a program hands its PE to run: kind letter, tag, cycles, and the callback
    that sends the op's results when its cycles have elapsed."""

    kind: str
    tag: int
    cycles: int
    finish: Callable[[], None]


class OpRecord(NamedTuple):
    """One op as the trace logs it."""

    coord: tuple[int, int]
    kind: str
    tag: int
    start: int
    end: int


class MessageRecord(NamedTuple):
    """One message as the chip logs it."""

    src: tuple[int, int]
    dst: tuple[int, int]
    sent: int
    arrival: int
    nbytes: int
    kind: str
    tag: int


# `new_record(cls, fields)` is `cls(*fields)` for one of the records above, built without the
# class-call overhead of a NamedTuple (about 3x cheaper): the event loop's hot path makes several per op.
new_record = tuple.__new__


OPS_COLUMNS = ("layer", "kind", "sample", "start", "end", "row", "col")
# Source and destination PE (the I/O port is row 0, column -1), send and arrival cycles,
# size in bytes, kind code (MESSAGE_KINDS) and tag (the sample for x, e, y).
MESSAGE_COLUMNS = ("src_row", "src_col", "dst_row", "dst_col", "sent", "arrival", "nbytes", "kind", "tag")


def ops_table(trace: list[OpRecord], layer_of: dict, stop: int | None = None) -> dict[str, np.ndarray]:
    """The op trace as columns: layer (1-based), kind code, sample (or other) tag, start and
    end cycles, and the PE's row and column. An op still running at `stop` (a run stopped
    early) ends there."""
    rows = [(layer_of[r.coord], KINDS[r.kind], r.tag, r.start, r.end if stop is None else min(r.end, stop),
             r.coord[0], r.coord[1]) for r in trace]
    array = np.array(rows, dtype=np.int64).reshape(len(rows), len(OPS_COLUMNS))
    return {name: np.ascontiguousarray(array[:, i]) for i, name in enumerate(OPS_COLUMNS)}


def messages_table(messages: list[MessageRecord]) -> dict[str, np.ndarray]:
    """A chip's message log as columns."""
    rows = [(src[0], src[1], dst[0], dst[1], sent, arrival, nbytes, _kind_code(kind), tag)
            for src, dst, sent, arrival, nbytes, kind, tag in messages]
    array = np.array(rows, dtype=np.int64).reshape(len(rows), len(MESSAGE_COLUMNS))
    return {name: np.ascontiguousarray(array[:, i]) for i, name in enumerate(MESSAGE_COLUMNS)}


def _kind_code(kind: str) -> int:
    try:
        return MESSAGE_KINDS[kind]
    except KeyError:
        raise ValueError(f"message kind {kind!r} has no code in wafersim.records.MESSAGE_KIND_TABLE; add it") from None
