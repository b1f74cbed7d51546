"""Decoupled neural interfaces: the reference update rule, the SGD limit, frozen modules, labels, ops and SRAM."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.builders import UNIFORM_HARDWARE, make, scenario_dict

from wafersim.config import ConfigError, load_scenario
from wafersim.records import KINDS, MESSAGE_KINDS
from wafersim.runner import run, sample_order
from wafersim.training.data import load_dataset
from wafersim.training.model import init_params
from wafersim_kernels.reference_dni import dni_reference

SLOW_LINKS = {**UNIFORM_HARDWARE, "pe": {"macs_per_cycle": 16, "sram_bytes": 1 << 24, "op_overhead_cycles": 3},
              "noc": {"hop_latency_cycles": 2, "link_bytes_per_cycle": 8, "contention": True}}


def dni(layers=(8, 8, 8, 4), samples=40, hardware=None, **synthetic) -> dict:
    data = scenario_dict(layers=layers, algorithm="dni", samples=samples, hardware=hardware)
    data["training"]["synthetic"] = {"learning_rate": 0.02, **synthetic}
    return data


def expand(runs: list[list[int]]) -> list[int]:
    return [value for value, times in runs for _ in range(times)]


def reference_of(scenario, result):
    """dni_reference on the run's data, initial weights and reported target ages."""
    m, t = scenario.model, scenario.training
    data = load_dataset("synthetic", None, scenario.dataset.test_fraction, t.seed, n_features=m.layers[0],
                        n_classes=m.layers[-1], samples=scenario.dataset.samples)
    weights, biases = init_params(m, t.seed)
    rows = result.metrics["layers"]
    interfaces = [r["layer"] for r in rows if "synthetic" in r]
    sg = {k: [[result.weights[f"sg/{k}/W{i}_init"], result.weights[f"sg/{k}/b{i}_init"]]
              for i in range(1, len(t.options.synthetic.hidden) + 2)] for k in interfaces}
    ages = {k: expand(rows[k - 1]["synthetic"]["age_runs"]) for k in interfaces}
    classes = m.layers[-1] if t.options.synthetic.conditioned else 0
    return dni_reference(weights, biases, data.X_train, data.y_train, sample_order(len(data.y_train), t.samples, t.seed),
                         t.learning_rate, "relu", interfaces, sg, t.options.synthetic.learning_rate, ages, classes)


@pytest.mark.parametrize("hardware", [None, SLOW_LINKS], ids=["uniform", "slow-links"])
@pytest.mark.parametrize("synthetic", [{}, {"interfaces": [2]}, {"interfaces": [1], "hidden": [6]},
                                       {"conditioned": True}, {"conditioned": True, "hidden": [5, 3]},
                                       {"placement": "neighbour"},
                                       {"placement": "neighbour", "conditioned": True, "interfaces": [1]}],
                         ids=["all", "after-2", "after-1-hidden", "cdni", "cdni-two-hidden", "neighbour",
                              "neighbour-cdni-after-1"])
def test_dni_equals_the_reference_update_rule_update_by_update(hardware, synthetic):
    """The timing decides only when each target trains M_k (its age); given those, every weight of the
    network and of every M_k, and every loss, is the reference's to float32 rounding."""
    scenario = make(dni(hardware=hardware, **synthetic))
    result = run(scenario, progress=False)
    W, b, sg, losses, sg_losses = reference_of(scenario, result)
    for k in range(3):
        np.testing.assert_allclose(result.weights[f"W{k + 1}"], W[k], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(result.weights[f"b{k + 1}"], b[k], rtol=1e-5, atol=1e-6)
    for k, params in sg.items():
        for i, (W_sg, b_sg) in enumerate(params, 1):
            np.testing.assert_allclose(result.weights[f"sg/{k}/W{i}"], W_sg, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(result.weights[f"sg/{k}/b{i}"], b_sg, rtol=1e-5, atol=1e-6)
        row = result.metrics["layers"][k - 1]["synthetic"]
        assert row["updates"] == 40 and row["mean_loss"] == pytest.approx(np.mean(sg_losses[k]), rel=1e-4)
    assert result.metrics["final_train_loss"] is not None
    assert any(np.abs(result.weights[f"sg/{k}/W{len(p)}"]).sum() > 0 for k, p in sg.items())  # M_k learnt


def test_without_interfaces_dni_is_sgd_bitwise():
    """One module holding every layer is backprop one sample at a time: plain SGD, weights and cycles."""
    scenario = make(dni(interfaces=[]))
    ours, sgd = run(scenario, progress=False), run(make(scenario_dict(algorithm="sgd")), progress=False)
    for name in ("W1", "W2", "W3", "b1", "b2", "b3"):
        assert np.array_equal(ours.weights[name], sgd.weights[name]), name
    assert ours.metrics["total_cycles"] == sgd.metrics["total_cycles"] and ours.curve == sgd.curve


def test_a_module_that_predicts_zero_and_never_learns_freezes_every_layer_below_it():
    result = run(make(dni(learning_rate=0.0)), progress=False)
    for k in (1, 2):  # below the top interface: every delta they see is M_k's zero
        assert np.array_equal(result.weights[f"W{k}"], result.weights[f"W{k}_init"])
        assert np.array_equal(result.weights[f"sg/{k}/W1"], np.zeros_like(result.weights[f"sg/{k}/W1"]))
    assert not np.array_equal(result.weights["W3"], result.weights["W3_init"])  # the top has the true gradient


def test_every_layer_is_a_module_of_its_own_so_each_updates_before_its_next_forward():
    result = run(make(dni()), progress=False)
    ops = result.ops
    for layer in (1, 2):
        mine = ops["layer"] == layer
        letters = "".join({v: k for k, v in KINDS.items()}[c] for c in ops["kind"][mine])
        assert letters.count("G") == letters.count("T") == 40
        without_t = letters.replace("T", "")
        assert without_t == "FGBU" * 40  # each sample forwarded, predicted, back-propagated and applied in turn
    assert all(r["staleness"]["max"] == 0 for r in result.metrics["layers"])


def test_cdni_sends_every_label_to_every_interface_and_to_the_top():
    result = run(make(dni(conditioned=True)), progress=False)
    labels = result.messages["kind"] == MESSAGE_KINDS["y"]
    destinations = sorted(set(zip(result.messages["dst_row"][labels], result.messages["dst_col"][labels])))
    assert len(destinations) == 3 and labels.sum() == 3 * 40
    assert result.metrics["layers"][0]["synthetic"]["module"] == "12->8"  # 8 units and 4 one-hot classes in


def test_sram_holds_the_module_and_stays_within_the_bound():
    result = run(make(dni(hidden=[6], optimizer="adam")), progress=False)
    for row in result.metrics["layers"]:
        assert row["peak_sram_bytes"] <= row["sram_bound_bytes"]
    # M_1: 8->6->8 = 48 + 6 + 48 + 8 = 110 parameters; with its gradients and Adam's two moments, 4 floats each.
    assert result.metrics["layers"][0]["sram_bound"]["synthetic"] == 110 * 4 * 4


def test_a_timing_only_run_has_the_same_schedule_and_no_losses():
    full, timing = run(make(dni()), progress=False), run(make({**dni(), "timing_only": True}), progress=False)
    assert timing.metrics["total_cycles"] == full.metrics["total_cycles"]
    for column in full.ops:
        assert np.array_equal(full.ops[column], timing.ops[column])
    row = timing.metrics["layers"][0]["synthetic"]
    assert row["mean_loss"] is None and row["age_runs"] == full.metrics["layers"][0]["synthetic"]["age_runs"]


def test_dni_runs_on_the_event_engine_and_says_why():
    result = run(make(dni(samples=4)), progress=False)
    assert result.metrics["engine"] == {"requested": "auto", "used": "events",
                                        "why": "algorithm dni's schedule has no compiled form"}


@pytest.mark.parametrize("synthetic, message", [
    ({"interfaces": [3]}, "training.synthetic.interfaces: [3] lie outside the network: interfaces go after layers "
                          "1..2 (the top layer has the true gradient)"),
    ({"hidden": [4, 4, 4]}, "training.synthetic.hidden"),
    ({"hidden": [0]}, "hidden widths must be at least 1"),
    ({"interfaces": "some"}, "training.synthetic.interfaces: is 'some': give 'all' or a list of layer numbers"),
    ({"learning_rate": -1}, "training.synthetic.learning_rate"),
    ({"colour": "red"}, "training.synthetic.colour"),
])
def test_bad_synthetic_sections_are_refused_with_the_key(tmp_path, synthetic, message):
    import yaml

    data = dni(**synthetic)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_scenario(path, [])
    assert message in str(info.value)


def test_synthetic_keys_belong_to_dni_alone(tmp_path):
    import yaml

    data = copy.deepcopy(scenario_dict())
    data["training"]["synthetic"] = {"conditioned": True}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="synthetic"):
        load_scenario(path, [])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_run_the_modules_make_diverge_names_their_learning_rate_too():
    result = run(make(dni(learning_rate=50.0)), progress=False)
    assert result.status == "diverged"
    assert ("lower training.learning_rate (now 0.05), training.synthetic.learning_rate (now 50.0) or add a "
            "learning-rate half-life") in result.message


def test_modules_placed_next_to_their_layers_run_g_and_t_there_and_trade_messages():
    result = run(make(dni(placement="neighbour", conditioned=True)), progress=False)
    roles = {(pe["row"], pe["col"]): pe["label"] for pe in result.metrics["pe_utilization"] if pe["role"]}
    assert roles == {(0, 0): "L1", (0, 1): "L2", (0, 2): "L3", (1, 0): "M1", (1, 1): "M2"}  # snake; modules below
    ops, letters = result.ops, {v: k for k, v in KINDS.items()}
    at = {(r, c): "".join(letters[k] for k, rr, cc in zip(ops["kind"], ops["row"], ops["col"]) if (rr, cc) == (r, c))
          for r, c in roles}
    assert at[(0, 0)] == at[(0, 1)] == "FBU" * 40 and set(at[(1, 0)]) == set(at[(1, 1)]) == {"G", "T"}
    by_kind = result.metrics["network"]["by_kind"]
    assert by_kind["synthetic-gradient inputs"]["messages"] == by_kind["synthetic gradients"]["messages"] == 2 * 40
    labels = result.messages["kind"] == MESSAGE_KINDS["y"]
    destinations = set(zip(result.messages["dst_row"][labels], result.messages["dst_col"][labels]))
    assert destinations == {(0, 2), (1, 0), (1, 1)}  # the top layer and both modules, not the interface layers
    targets = result.messages["kind"] == MESSAGE_KINDS["e"]
    assert set(zip(result.messages["dst_row"][targets], result.messages["dst_col"][targets])) == {(1, 0), (1, 1)}
    module = next(row for row in result.metrics["layers"] if row["layer"] == 1)["synthetic"]
    assert module["placement"] == "neighbour" and module["updates"] == 40
    from wafersim.runner import prepare

    for p in prepare(make(dni(placement="neighbour", conditioned=True)), "s").layout.of_role("synthetic"):
        peak = result.metrics["peak_sram_bytes"][f"{p.coord[0]},{p.coord[1]}"]
        assert p.memory.static < peak <= p.memory.total  # M_k's arrays, and what it keeps until its targets


def test_a_module_with_no_free_neighbour_is_refused_before_the_run(tmp_path):
    import yaml

    from wafersim.runner import prepare

    data = dni(layers=(8, 8, 8, 8, 4), placement="neighbour")
    data["hardware"]["mesh"] = {"rows": 1, "cols": 4}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        prepare(load_scenario(path, []), str(path))
    assert str(info.value) == (f"{path}: 1 problem(s) in the configuration:\n  - training.synthetic.placement: no free "
                               "PE next to (0, 0) on the 1x4 mesh; use a larger mesh, another placement, or keep the "
                               "module on its layer's PE (same)")


@st.composite
def random_dni(draw):
    """A DNI scenario on random hardware timings, widths, interfaces, modules and placements."""
    depth = draw(st.integers(2, 4))
    layers = tuple(draw(st.lists(st.integers(3, 8), min_size=depth, max_size=depth))) + (draw(st.integers(2, 4)),)
    hardware = copy.deepcopy(UNIFORM_HARDWARE)
    hardware["pe"].update(macs_per_cycle=draw(st.integers(1, 64)), op_overhead_cycles=draw(st.integers(0, 5)))
    hardware["noc"].update(hop_latency_cycles=draw(st.integers(0, 5)), link_bytes_per_cycle=draw(st.integers(1, 64)),
                           contention=draw(st.booleans()))
    interfaces = draw(st.lists(st.integers(1, depth - 1), unique=True, max_size=depth - 1))
    synthetic = {"interfaces": sorted(interfaces), "hidden": draw(st.sampled_from([[], [4]])),
                 "conditioned": draw(st.booleans()), "placement": draw(st.sampled_from(["same", "neighbour"])),
                 "learning_rate": draw(st.sampled_from([0.0, 0.01, 0.05]))}
    data = dni(layers=layers, samples=draw(st.integers(5, 20)), hardware=hardware, **synthetic)
    data["training"]["seed"] = draw(st.integers(0, 3))
    return data


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_dni())
def test_dni_equals_the_reference_on_random_cases(data):
    """Whatever the timing, placement, network and modules: the reference given the reported ages."""
    scenario = make(data)
    result = run(scenario, progress=False, trace=False)
    W, b, sg, losses, _ = reference_of(scenario, result)
    for k in range(scenario.n_layers):
        np.testing.assert_allclose(result.weights[f"W{k + 1}"], W[k], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(result.weights[f"b{k + 1}"], b[k], rtol=1e-4, atol=1e-5)
    for k, params in sg.items():
        for i, (W_sg, b_sg) in enumerate(params, 1):
            np.testing.assert_allclose(result.weights[f"sg/{k}/W{i}"], W_sg, rtol=1e-4, atol=1e-5)
