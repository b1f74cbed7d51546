"""Every optimizer inside the simulated algorithms: reference loops, equivalences, SRAM, cycles and saved state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from tests.builders import make, scenario_dict
from tests.simulator.algorithms.test_cp import _reference_inputs

from wafersim_kernels import reference_optimizers as ref
from wafersim_kernels.reference import cp_reference, mbgd_reference, sgd_reference
from wafersim.algorithms import ALGORITHMS
from wafersim.optimizers import OPTIMIZERS, facts
from wafersim.runner import run

LR = {"sgd": 0.05, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.05, "rmsprop": 0.005, "adadelta": 1.0,
      "adam": 0.005, "conjugate_gradient": 0.02}
ORACLES = {
    "sgd": lambda: ref.SGDRef(LR["sgd"]),
    "momentum": lambda: ref.MomentumRef(LR["momentum"], 0.9),
    "nesterov": lambda: ref.NesterovRef(LR["nesterov"], 0.9),
    "adagrad": lambda: ref.AdagradRef(LR["adagrad"], 1e-8),
    "rmsprop": lambda: ref.RMSPropRef(LR["rmsprop"], 0.9, 1e-8),
    "adadelta": lambda: ref.AdadeltaRef(LR["adadelta"], 0.95, 1e-6),
    "adam": lambda: ref.AdamRef(LR["adam"], 0.9, 0.999, 1e-8),
    "conjugate_gradient": lambda: ref.ConjugateGradientRef(LR["conjugate_gradient"], "fletcher_reeves"),
}
PER_SAMPLE = [name for name, kind in OPTIMIZERS.items() if not kind.minibatch_only]


def _scenario(algorithm="mbgd", optimizer="sgd", samples=32, **training):
    return make(scenario_dict(layers=(8, 8, 8, 4), algorithm=algorithm, samples=samples,
                              **{"learning_rate": LR[optimizer], "optimizer": optimizer, **training}))


def _assert_weights(result, ref_W, ref_b, rtol=2e-4, atol=2e-5):
    for k in range(len(ref_W)):
        np.testing.assert_allclose(result.weights[f"W{k + 1}"], ref_W[k], rtol=rtol, atol=atol)
        np.testing.assert_allclose(result.weights[f"b{k + 1}"], ref_b[k], rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_mbgd_with_each_optimizer_equals_the_reference_minibatch_loop(name):
    """The oracle is written from the optimizer's paper (kernels/reference_optimizers.py) and
    keeps its state in float64; the simulator runs float32 kernels with fastmath."""
    scenario = _scenario("mbgd", name, batch_size=4)
    result = run(scenario, progress=False)
    weights, biases, data, order = _reference_inputs(scenario)
    ref_W, ref_b, _ = mbgd_reference(weights, biases, data.X_train, data.y_train, order, 4, None, "relu",
                                     optimizer=ORACLES[name])
    _assert_weights(result, ref_W, ref_b)


@pytest.mark.parametrize("name", PER_SAMPLE)
def test_sgd_with_each_optimizer_equals_the_reference_loop(name):
    scenario = _scenario("sgd", name, samples=24)
    result = run(scenario, progress=False)
    weights, biases, data, order = _reference_inputs(scenario)
    ref_W, ref_b, _ = sgd_reference(weights, biases, data.X_train, data.y_train, order, None, "relu",
                                    optimizer=ORACLES[name])
    _assert_weights(result, ref_W, ref_b)


@pytest.mark.parametrize("name", ["adam", "nesterov", "adadelta"])
@pytest.mark.parametrize("delta_rule", ["immediate", "anchored"])
def test_cp_with_an_optimizer_equals_the_step_model(name, delta_rule):
    scenario = _scenario("cp", name, samples=32, delta_rule=delta_rule)
    result = run(scenario, progress=False)
    weights, biases, data, order = _reference_inputs(scenario)
    ref_W, ref_b, _, staleness = cp_reference(weights, biases, data.X_train, data.y_train, order, None, "relu",
                                              anchored=delta_rule == "anchored", optimizer=ORACLES[name])
    _assert_weights(result, ref_W, ref_b)
    assert [layer["staleness"]["max"] for layer in result.metrics["layers"]] == [max(s) for s in staleness]


def test_one_asgd_worker_with_adam_is_mbgd_with_adam_bit_for_bit():
    """The shard runs the optimizer on the pushed minibatch gradient, which is the layer's own sum."""
    mbgd = run(_scenario("mbgd", "adam", batch_size=4), progress=False)
    asgd = run(_scenario("asgd", "adam", batch_size=4, workers=1), progress=False)
    for key in mbgd.weights:
        np.testing.assert_array_equal(asgd.weights[key], mbgd.weights[key], err_msg=key)


def test_allreduce_with_adam_is_mbgd_of_the_global_batch():
    """Every replica applies Adam to the same all-reduced gradient, so replicas stay identical
    and equal MBGD(N*B) to float32 rounding (the ring sums chunks in ring order)."""
    mbgd = run(_scenario("mbgd", "adam", batch_size=8), progress=False)
    ring = run(_scenario("allreduce", "adam", batch_size=4, workers=2), progress=False)
    for key in ("W1", "b1", "W3", "b3"):
        np.testing.assert_allclose(ring.weights[key], mbgd.weights[key], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_algorithm_runs_with_every_optimizer_that_fits_it(algorithm, name):
    training = {"batch_size": 4} if "batch_size" in ALGORITHMS[algorithm].keys() else {}
    if ALGORITHMS[algorithm].data_parallel:
        training["workers"] = 2
    if OPTIMIZERS[name].minibatch_only and not ALGORITHMS[algorithm].in_order_minibatches:
        with pytest.raises(ValidationError, match=f"training.optimizer: {name} builds each direction from consecutive "
                                              "minibatch gradients"):
            _scenario(algorithm, name, samples=16, **training)
        return
    result = run(_scenario(algorithm, name, samples=16, **training), progress=False)
    assert result.status == "completed"
    assert result.metrics["optimizer"]["name"] == name
    assert all(np.isfinite(v).all() for v in result.weights.values())


def test_momentum_zero_is_sgd_bit_for_bit():
    plain = run(_scenario("mbgd", "sgd", batch_size=4), progress=False)
    zero = run(make(scenario_dict(layers=(8, 8, 8, 4), algorithm="mbgd", samples=32, batch_size=4, learning_rate=0.05,
                                  optimizer={"name": "momentum", "mu": 0.0})), progress=False)
    for key in plain.weights:
        np.testing.assert_array_equal(zero.weights[key], plain.weights[key], err_msg=key)


@pytest.mark.parametrize("old, new", [
    ({"momentum": 0.9}, {"optimizer": {"name": "momentum", "mu": 0.9}}),
    ({"lr_half_life_epochs": 0.5}, {"lr_schedule": {"name": "half_life", "half_life_epochs": 0.5}}),
])
def test_old_keys_are_shorthands_of_the_new_ones(old, new):
    def weights(extra):
        return run(make(scenario_dict(layers=(8, 8, 8, 4), algorithm="mbgd", samples=32, batch_size=4,
                                      learning_rate=0.05, **extra)), progress=False).weights
    a, b = weights(old), weights(new)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_adam_state_is_saved_charged_and_counts_updates():
    result = run(_scenario("mbgd", "adam", batch_size=4), progress=False)
    updates = 32 // 4
    for k in (1, 2, 3):
        assert int(result.weights[f"opt/{k}/adam/t"]) == updates
        assert result.weights[f"opt/{k}/adam/m/W"].shape == result.weights[f"W{k}"].shape
        assert result.weights[f"opt/{k}/adam/v/b"].shape == result.weights[f"b{k}"].shape
    layer = result.metrics["layers"][0]
    params = 8 * 8 + 8
    assert layer["sram_bound"]["optimizer_state"] == 2 * 4 * params  # m and v, float32
    assert result.metrics["optimizer"]["state_bytes_per_parameter"] == facts("adam")[0] == 8
    assert result.metrics["optimizer"]["state_bytes"] == 2 * 4 * (params + params + 8 * 4 + 4)


def test_a_stateful_optimizer_makes_cp_build_its_gradient():
    """CP streams W += c dz x^T only for a linear, stateless optimizer; otherwise B also builds
    the outer product (n_in n_out more MACs) into a gradient buffer (SRAM), and U costs the
    optimizer's MACs per parameter. On a 64-MAC/cycle PE with overhead 4, a 64 -> 128 layer 1."""
    hardware = {"name": "cycles", "clock_hz": 1.0e9, "mesh": {"rows": 2, "cols": 2},
                "pe": {"macs_per_cycle": 64, "sram_bytes": 1 << 24, "op_overhead_cycles": 4},
                "noc": {"hop_latency_cycles": 1, "link_bytes_per_cycle": 16, "contention": True}}

    def layer1(**training):
        scenario = make(scenario_dict(layers=(64, 128, 10), algorithm="cp", samples=4, hardware=hardware,
                                      learning_rate=0.01, **training))
        return run(scenario, progress=False).metrics["layers"][0]

    plain, momentum, adam = layer1(), layer1(momentum=0.9), layer1(optimizer="adam")
    params = 64 * 128 + 128
    assert plain["op_cycles"] == {"F": 128 + 4, "B": 2 + 4, "U": -(-params // 64) + 4}
    assert momentum["op_cycles"] == {"F": 132, "B": 2 + 128 + 4, "U": -(-2 * params // 64) + 4}
    assert adam["op_cycles"]["U"] == -(-facts("adam")[1] * params // 64) + 4
    assert plain["sram_bound"]["gradient_buffer"] == 0
    assert momentum["sram_bound"]["gradient_buffer"] == adam["sram_bound"]["gradient_buffer"] == 4 * params


def test_timing_only_runs_the_same_ops_with_adam():
    full = run(_scenario("cp", "adam", samples=16), progress=False)
    timing = run(make(scenario_dict(layers=(8, 8, 8, 4), algorithm="cp", samples=16, learning_rate=0.005,
                                    optimizer="adam") | {"timing_only": True}), progress=False)
    for column in full.ops:
        np.testing.assert_array_equal(full.ops[column], timing.ops[column])
    assert not any(key.startswith("opt/") for key in timing.weights)


def test_quickstart_with_momentum_charges_the_gradient_it_builds():
    """The README's figures for the one deliberate change: layer 1 of quickstart with momentum
    0.9 (64 -> 128 on 64 MACs/cycle) costs B = ceil((128 + 64*128) / 64) + 4 = 134 cycles (6
    before), and its SRAM bound gains the 33,280-byte gradient buffer (70,656 before)."""
    from wafersim.config import load_scenario

    scenario = load_scenario(Path(__file__).resolve().parents[3] / "scenarios" / "quickstart.yaml", ["training.momentum=0.9", "training.samples=16",
                                                           "training.epochs=null"])
    layer = run(scenario, progress=False).metrics["layers"][0]
    assert layer["op_cycles"]["B"] == 134
    assert layer["sram_bound_bytes"] == 103_936 == 70_656 + 4 * (64 * 128 + 128)
