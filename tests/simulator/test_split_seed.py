"""dataset.split_seed: seeds vary the initial weights and the sample order over one fixed test set."""

from __future__ import annotations

import numpy as np
from tests.builders import make, scenario_dict

from wafersim import runner


def _scenario(seed: int, split_seed=None, name="digits"):
    data = scenario_dict(layers=(64, 16, 10), samples=30, seed=seed)
    data["dataset"] = {"name": name, "samples": 200, "test_fraction": 0.25,
                       **({} if split_seed is None else {"split_seed": split_seed})}
    return make(data)


def test_unset_split_seed_follows_the_training_seed_as_before():
    a, b = (runner.prepare(_scenario(seed), "s").data for seed in (1, 2))
    assert not np.array_equal(a.X_test, b.X_test)  # today's behaviour: the seed re-draws the split
    same = runner.prepare(_scenario(3, split_seed=3), "s").data
    np.testing.assert_array_equal(same.X_test, runner.prepare(_scenario(3), "s").data.X_test)


def test_a_fixed_split_seed_keeps_one_test_set_across_training_seeds():
    runs = [runner.run(_scenario(seed, split_seed=7), progress=False) for seed in (1, 2)]
    data = [runner.prepare(_scenario(seed, split_seed=7), "s").data for seed in (1, 2)]
    np.testing.assert_array_equal(data[0].X_test, data[1].X_test)
    np.testing.assert_array_equal(data[0].y_train, data[1].y_train)
    assert not np.array_equal(runs[0].weights["W1_init"], runs[1].weights["W1_init"])  # seeds still vary weights


def test_split_seed_fixes_generated_data_too():
    a, b = (runner.prepare(_scenario(seed, split_seed=5, name="synthetic"), "s").data for seed in (1, 2))
    np.testing.assert_array_equal(a.X_train, b.X_train)
