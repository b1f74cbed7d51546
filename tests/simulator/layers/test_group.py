"""A convolution and its pooling on one PE (model.grouping: conv_pool): shapes, costs, gradients and training."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from tests.builders import UNIFORM_HARDWARE, central_differences, make
from tests.simulator.layers.test_conv import NIN, SMALL, conv_scenario

from wafersim.layers import ConvPool, ConvPoolShape, ConvShape, PoolShape, network_shapes
from wafersim.optimizers import SGDConfig, constant, make_optimizer
from wafersim.runner import run
from wafersim_kernels.reference_conv import conv2d_forward_ref, maxpool_forward_ref


def grouped(data: dict) -> dict:
    data = copy.deepcopy(data)
    data["model"]["grouping"] = "conv_pool"
    return data


def renumbered(weights: dict, layers: list[int]) -> dict:
    """The ungrouped run's arrays of `layers` (1-based), numbered as the grouped run's PEs."""
    out = {}
    for k, layer in enumerate(layers, start=1):
        out[f"W{k}"], out[f"b{k}"] = weights[f"W{layer}"], weights[f"b{layer}"]
    return out


def test_grouping_puts_each_pooling_on_its_convolutions_pe():
    shapes = network_shapes(make(grouped(conv_scenario(SMALL))).model)
    assert [s.kind for s in shapes] == ["conv+pool", "conv+pool", "dense"]
    assert shapes[0].describe() == "conv 1x8x8->4x8x8 k3 p1 + max pool 4x8x8->4x4x4 2/2"
    assert shapes[0].first and not shapes[1].first and shapes[2].top
    assert (shapes[0].input_floats, shapes[0].output_floats) == (64, 64)
    nin = make(grouped(conv_scenario(NIN))).model
    assert nin.n_layers == 3 and [s.kind for s in network_shapes(nin)] == ["conv", "conv+pool", "conv+pool"]
    assert network_shapes(nin)[-1].top and nin.classes == 5


def test_a_groups_costs_are_its_parts_with_the_map_recomputed_in_b():
    conv = ConvShape(3, 8, 8, 4, 3, 1, 1, True, "relu", first=True, top=False)
    pool = PoolShape(4, 8, 8, "max", 2, 2, first=False, top=False)
    g = ConvPoolShape(conv, pool)
    assert g.forward_macs() == conv.forward_macs() + pool.forward_macs()
    assert g.input_gradient_macs() == conv.forward_macs() + pool.forward_macs() + conv.input_gradient_macs()
    assert g.backward_macs(True) == g.input_gradient_macs() + conv.weight_gradient_macs(True)
    assert g.param_count == conv.param_count and g.stash_bytes == conv.param_count * 4
    assert g.backward_reads_weights and not conv.backward_reads_weights  # layer 1: only the recompute reads W


@pytest.mark.parametrize("top", [False, True])
def test_a_groups_gradients_match_finite_differences(top):
    """dL/dx, dL/dW and dL/db of L = sum(R * maxpool(relu(conv(x)))) against central differences of the oracles."""
    rng = np.random.default_rng(3)
    conv = ConvShape(2, 6, 6, 3, 3, 1, 1, True, "relu", first=False, top=False)
    g = ConvPoolShape(conv, PoolShape(3, 6, 6, "max", 2, 2, first=False, top=top))
    x = rng.standard_normal(g.input_floats).astype(np.float32)
    W, b = (rng.standard_normal((3, 2, 3, 3)) * 0.5).astype(np.float32), (rng.standard_normal(3) * 0.1).astype(np.float32)
    R = rng.standard_normal(g.output_floats).astype(np.float32)
    layer = ConvPool(g, W.copy(), b.copy(), make_optimizer(SGDConfig(), constant(0.1)))
    x64, W64, b64 = x.reshape(2, 6, 6).astype(np.float64), W.astype(np.float64), b.astype(np.float64)

    def ref():
        return maxpool_forward_ref(np.maximum(conv2d_forward_ref(x64, W64, b64, 1, 1), 0), 2, 2)[0]

    np.testing.assert_allclose(layer.forward(x), ref().reshape(-1), rtol=1e-5, atol=1e-6)
    out = R if top else layer.forward(x)  # the top layer keeps dL/dz itself: R stands for it
    dx = layer.backward(x, out, None if top else R, None)

    def loss():
        return float((ref().reshape(-1) * R).sum())

    np.testing.assert_allclose(layer.grad_W, central_differences(loss, W64), rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(layer.grad_b, central_differences(loss, b64), rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(dx.reshape(2, 6, 6), central_differences(loss, x64), rtol=2e-3, atol=2e-4)


@pytest.mark.parametrize("algorithm, extra", [("sgd", {}), ("mbgd", {"batch_size": 4}),
                                              ("gpipe", {"micro_batches": 4})])
def test_a_grouped_network_trains_bitwise_as_the_ungrouped_one(algorithm, extra):
    """Where no update falls between a sample's F and B, the recomputed map is the forward's: the same bits."""
    data = conv_scenario(SMALL, algorithm=algorithm, **extra)
    plain = run(make(data), progress=False)
    group = run(make(grouped(data)), progress=False)
    assert {name for name in group.weights if "_" not in name} == {"W1", "b1", "W2", "b2", "W3", "b3"}
    for name, array in renumbered(plain.weights, [1, 3, 5]).items():
        assert np.array_equal(group.weights[name], array), name
    assert plain.metrics["final_test_accuracy"] == group.metrics["final_test_accuracy"]


def test_cp_on_a_grouped_network_recomputes_with_the_forwards_weights_under_the_anchored_rule():
    """CP anchored on a grouped net, with the stash of W and b on layer 1 too; bound respected; the
    immediate rule recomputes the map with newer weights, so its weights differ."""
    data = grouped(conv_scenario(NIN, algorithm="cp", delta_rule="anchored", samples=24))
    anchored = run(make(data), progress=False)
    data["training"]["delta_rule"] = "immediate"
    immediate = run(make(data), progress=False)
    for result in (anchored, immediate):
        assert result.status == "completed"
        assert [row["kind"] for row in result.metrics["layers"]] == ["conv", "conv+pool", "conv+pool"]
        for row in result.metrics["layers"]:
            assert row["peak_sram_bytes"] <= row["sram_bound_bytes"]
    assert not np.array_equal(anchored.weights["W2"], immediate.weights["W2"])


@pytest.mark.parametrize("extra", [{}, {"vertical_sync": True}], ids=["stashing", "vertical-sync"])
def test_pipedream_keeps_a_grouped_layer_1s_versions(extra):
    """Layer 1's B reads weights once grouped (its recompute), so PipeDream keeps its versions too."""
    result = run(make(grouped(conv_scenario(SMALL, algorithm="pipedream", samples=16, **extra))), progress=False)
    assert result.status == "completed"
    for row in result.metrics["layers"]:
        assert row["peak_sram_bytes"] <= row["sram_bound_bytes"]


def test_a_grouped_pes_op_cycles_come_from_the_pairs_shape():
    hw = copy.deepcopy(UNIFORM_HARDWARE)
    hw["pe"].update(macs_per_cycle=16, op_overhead_cycles=3)
    data = grouped(conv_scenario(SMALL, hardware=hw, samples=6))
    result = run(make(data), progress=False)
    assert len(result.metrics["layers"]) == 3
    for row, shape in zip(result.metrics["layers"], network_shapes(make(data).model)):
        assert row["op_cycles"]["F"] == math.ceil(shape.forward_macs() / 16) + 3
        assert row["op_cycles"]["B"] == math.ceil(shape.backward_macs(not shape.streamable) / 16) + 3


def test_grouping_needs_layer_mappings(tmp_path):
    import yaml

    from wafersim.config import ConfigError, load_scenario

    data = conv_scenario(SMALL)
    data["model"] = {"layers": [64, 5], "grouping": "conv_pool"}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="model.grouping puts a pooling layer on its convolution's PE, and dense "
                                          "widths have neither"):
        load_scenario(path, [])
    data = grouped(conv_scenario(SMALL))
    data["model"]["grouping"] = "pairs"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"model.grouping.*'none' or 'conv_pool'"):
        load_scenario(path, [])
