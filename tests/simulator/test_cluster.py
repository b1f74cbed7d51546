"""The Dask cluster sweeps and comparisons run on: connecting, a scheduler that is not there, why a task failed."""

from __future__ import annotations

import argparse

import pytest

from wafersim import cluster
from wafersim.config import ConfigError


def test_why_a_task_failed_is_one_line():
    assert cluster.failure_text(ValueError("")) == "ValueError"
    assert cluster.failure_text(OSError("disk\n  full")) == "OSError: disk full"
    assert cluster.failure_text(ConfigError("a.yaml", [("k", "bad")])).startswith("a.yaml: 1 problem(s)")


def test_a_scheduler_nobody_answers_at_is_a_cluster_error(monkeypatch):
    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 1)
    with pytest.raises(cluster.ClusterError, match=r"^no Dask scheduler answers at tcp://127\.0\.0\.1:9 \(.*\); "
                                                   r"start one with `dask scheduler`"):
        cluster.connect("tcp://127.0.0.1:9", None, 1)


def test_an_embedded_cluster_has_no_more_workers_than_tasks():
    client, local = cluster.connect(None, 8, 1)
    try:
        assert len(client.scheduler_info()["workers"]) == 1
        assert client.submit(sum, [1, 2], pure=False).result() == 3
    finally:
        cluster.close(client, local, [])


def test_workers_must_be_at_least_one():
    parser = argparse.ArgumentParser()
    cluster.add_arguments(parser)
    assert parser.parse_args(["--workers", "3"]).workers == 3
    with pytest.raises(SystemExit):
        parser.parse_args(["--workers", "0"])
