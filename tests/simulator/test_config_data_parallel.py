"""Configuration of data-parallel training: worker counts, variant keys, placement, SRAM of workers and shards."""

from __future__ import annotations

import pytest

from wafersim import runner
from wafersim.config import ConfigError, load_scenario
from tests.simulator.test_config import error_of, hardware, scenario, write


def _training(**changes) -> dict:
    return {"algorithm": "asgd", "learning_rate": 0.1, "samples": 40, "eval_every": 10, "batch_size": 4, **changes}


def test_too_few_pes_names_the_numbers(tmp_path):
    """2 layers: 2 workers x 2 layers + 2 shards = 6 PEs, on a 2x2 mesh."""
    msg = error_of(write(tmp_path, scenario(training=_training(workers=2))))
    assert ("training.workers: 2 workers x 2 layers + 2 parameter-server shards need 6 PEs but the 2x2 mesh "
            "(hardware.mesh) has 4; use fewer workers, a larger mesh or fewer layers") in msg


def test_allreduce_needs_no_shards(tmp_path):
    path = write(tmp_path, scenario(training=_training(algorithm="allreduce", workers=2)))
    assert load_scenario(path).n_pes == 4


@pytest.mark.parametrize("training, text", [
    (_training(algorithm="cp", workers=2, batch_size=1),
     "training.workers is 2 but cp does not use it (it is a key of asgd, downpour, hogwild, allreduce); remove it "
     "or choose one of those algorithms"),
    (_training(n_fetch=2), "training.n_fetch is 2 but asgd does not use it (it is a key of downpour)"),
    (_training(algorithm="allreduce", staleness_aware=True),
     "training.staleness_aware is True but allreduce does not use it (it is a key of asgd, downpour, hogwild)"),
    (_training(delta_rule="anchored"), "training.delta_rule is 'anchored' but asgd does not use it (it is a key of cp)"),
    (_training(workers=0), "training.workers: Input should be greater than or equal to 1"),
])
def test_keys_that_do_not_apply_are_errors(tmp_path, training, text):
    assert text in error_of(write(tmp_path, scenario(training=training)))


def test_explicit_placement_lists_workers_then_shards(tmp_path):
    hw = hardware(mesh={"rows": 2, "cols": 3})
    good = scenario(training=_training(workers=2), placement=[[0, 0], [0, 1], [1, 0], [1, 1], [0, 2], [1, 2]])
    runner_scenario = load_scenario(write(tmp_path, good, hw))
    layout = runner.prepare(runner_scenario, "sc.yaml").layout
    assert [(p.label, p.coord) for p in layout.placed] == [
        ("W1 L1", (0, 0)), ("W1 L2", (0, 1)), ("W2 L1", (1, 0)), ("W2 L2", (1, 1)), ("S1", (0, 2)), ("S2", (1, 2))]


def test_explicit_placement_errors_say_what_each_entry_holds(tmp_path):
    hw = hardware(mesh={"rows": 2, "cols": 3})
    msg = error_of(write(tmp_path, scenario(training=_training(workers=2), placement=[[0, 0], [0, 1]]), hw))
    assert ("placement: lists 2 PEs but 2 workers x 2 layers + 2 parameter-server shards need 6; give one "
            "[row, col] per layer of worker 1, then worker 2, ..., then one per parameter-server shard") in msg
    reused = [[0, 0], [0, 1], [1, 0], [1, 1], [0, 2], [1, 1]]
    msg = error_of(write(tmp_path, scenario(training=_training(workers=2), placement=reused), hw))
    assert "placement[5]: PE [1, 1] already holds worker 2 layer 2; each layer needs its own PE" in msg


def test_shard_sram_error_names_the_shard(tmp_path):
    """8 -> 8 -> 4 with bias: layer 1 has 72 parameters (288 bytes); its shard keeps the weights and
    a landing buffer per worker: 288 x 2 = 576 bytes; a worker layer needs 288 + 288 (gradient) +
    activations (5 inputs x 8 + 4 x 8 floats = 288) = 864."""
    hw = hardware(mesh={"rows": 2, "cols": 3}, pe={"macs_per_cycle": 64, "sram_bytes": 600, "op_overhead_cycles": 4})
    path = write(tmp_path, scenario(training=_training(workers=1), placement="snake"), hw)
    with pytest.raises(ConfigError) as info:
        runner.prepare(load_scenario(path), "sc.yaml")
    msg = str(info.value)
    assert "worker 1's layer 1 (8->8 on PE [0, 0]) needs 864 bytes of SRAM" in msg
    assert "the shard of layer 1" not in msg  # 576 bytes fit
    assert "the shard of layer 2" not in msg
