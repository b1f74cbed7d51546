"""The message table: columns of the chip's message log, kinds by fixed codes."""

from __future__ import annotations

import numpy as np
import pytest

from wafersim.records import MESSAGE_COLUMNS, MESSAGE_KINDS, MESSAGE_NAMES, messages_table


def test_every_named_message_kind_has_a_code():
    assert set(MESSAGE_KINDS) == set(MESSAGE_NAMES)
    assert sorted(MESSAGE_KINDS.values()) == list(range(len(MESSAGE_KINDS)))


def test_columns():
    table = messages_table([((0, -1), (0, 0), 0, 17, 256, "x", 0), ((0, 1), (1, 1), 40, 43, 8, "ring", 7)])
    assert tuple(table) == MESSAGE_COLUMNS
    assert {name: column.tolist() for name, column in table.items()} == {
        "src_row": [0, 0], "src_col": [-1, 1], "dst_row": [0, 1], "dst_col": [0, 1], "sent": [0, 40],
        "arrival": [17, 43], "nbytes": [256, 8], "kind": [0, 6], "tag": [0, 7]}
    assert all(column.dtype == np.int64 for column in table.values())


def test_empty_log():
    table = messages_table([])
    assert all(len(column) == 0 and column.dtype == np.int64 for column in table.values())


def test_unknown_kind_is_named():
    with pytest.raises(ValueError, match="message kind 'gossip' has no code"):
        messages_table([((0, 0), (0, 1), 0, 1, 4, "gossip", 0)])


def test_a_run_logs_every_message(tiny_runs):
    result = tiny_runs["cp"]
    counted = sum(kind["messages"] for kind in result.metrics["network"]["by_kind"].values())
    assert len(result.messages["sent"]) == counted == result.metrics["network"]["messages"]
    assert np.all(result.messages["arrival"] > result.messages["sent"])
