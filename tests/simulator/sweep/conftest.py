"""The sweep tests' shared two-worker Dask cluster (`cluster`): starting one per test would cost seconds each."""

from __future__ import annotations

import logging

import distributed
import pytest

from wafersim.sweep import execute


@pytest.fixture(scope="session")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=logging.ERROR, scheduler_kwargs=execute.QUIET_SCHEDULER) as local:
        yield local
