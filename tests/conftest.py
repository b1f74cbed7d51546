"""Fixtures shared by the tests."""

from __future__ import annotations

import pytest
from tests.builders import make, scenario_dict


@pytest.fixture
def build():
    """build(layers=..., algorithm=..., **training) -> a validated Scenario."""
    return lambda **kw: make(scenario_dict(**kw))


@pytest.fixture(scope="session")
def tiny_runs():
    """One short traced run per algorithm on the uniform test hardware: {"sgd"|"mbgd"|"cp": RunResult}."""
    from wafersim.runner import run

    return {algorithm: run(make(scenario_dict(algorithm=algorithm, samples=24, eval_every=8,
                                              **({"batch_size": 4} if algorithm == "mbgd" else {}))), progress=False)
            for algorithm in ("sgd", "mbgd", "cp")}


@pytest.fixture(scope="session")
def cluster():
    """A two-worker Dask LocalCluster shared by the tests that run on one (starting one costs seconds)."""
    import logging

    import distributed

    from wafersim import cluster as clusters

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=logging.ERROR, scheduler_kwargs=clusters.QUIET_SCHEDULER) as local:
        yield local
