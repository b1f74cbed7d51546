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
