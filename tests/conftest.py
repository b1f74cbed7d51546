"""Fixtures shared by the tests."""

from __future__ import annotations

import pytest
from tests.builders import make, scenario_dict


@pytest.fixture
def build():
    """build(layers=..., algorithm=..., **training) -> a validated Scenario."""
    return lambda **kw: make(scenario_dict(**kw))
