"""Tracks: one per PE in use, layers (per worker) first, then shards, labelled as metrics label them."""

from __future__ import annotations

import numpy as np

from wafersim.tracks import Track, pe_tracks
from tests.builders import fake_asgd_results


def test_workers_then_shards():
    fake = fake_asgd_results()
    assert [t.name for t in pe_tracks(fake.metrics, fake.ops)] == [
        "W1 L1 (0,0)", "W1 L2 (0,1)", "W2 L1 (1,0)", "W2 L2 (1,1)", "S1 (0,2)", "S2 (1,2)"]
    assert [t.role for t in pe_tracks(fake.metrics)] == ["worker"] * 4 + ["shard"] * 2


def test_metrics_without_roles_or_labels_order_by_layer():
    metrics = {"pe_utilization": [{"row": 0, "col": 1, "layer": 2}, {"row": 0, "col": 0, "layer": 1},
                                  {"row": 1, "col": 1, "layer": None}]}
    assert pe_tracks(metrics) == [Track(0, 0, "L1", "layer", 1), Track(0, 1, "L2", "layer", 2)]


def test_a_pe_without_a_role_that_ran_ops_gets_a_track_last():
    metrics = {"pe_utilization": [{"row": 0, "col": 0, "layer": 1, "role": "layer", "label": "L1"},
                                  {"row": 1, "col": 1, "layer": None, "role": None, "label": None}]}
    ops = {"row": np.array([1, 0]), "col": np.array([1, 0])}
    assert [t.name for t in pe_tracks(metrics, ops)] == ["L1 (0,0)", "PE (1,1)"]
