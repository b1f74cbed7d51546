"""Convolutional networks: conv and pooling layers in YAML, their shapes, costs and SRAM, and training against a reference."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import yaml
from tests.builders import UNIFORM_HARDWARE, central_differences, make, reference_inputs, scenario_dict

from wafersim.config import ConfigError, load_scenario
from wafersim.layers import ConvShape, PoolShape, network_shapes
from wafersim.runner import run
from wafersim_kernels.reference_cnn import cnn_sgd_reference

SMALL = [{"type": "conv", "out": 4, "kernel": 3, "pad": 1}, {"type": "pool", "kind": "max", "size": 2},
         {"type": "conv", "out": 6, "kernel": 3, "stride": 2, "pad": 1}, {"type": "pool", "kind": "avg", "size": 2, "stride": 1},
         {"type": "dense", "out": 5}]
NIN = [{"type": "conv", "out": 6, "kernel": 3, "pad": 1}, {"type": "conv", "out": 6, "kernel": 1},
       {"type": "pool", "kind": "max", "size": 3, "stride": 2}, {"type": "conv", "out": 5, "kernel": 1},
       {"type": "global_pool"}]


def conv_scenario(layers=SMALL, input_shape=(1, 8, 8), algorithm="sgd", samples=30, hardware=None, **training):
    data = scenario_dict(layers=(64, 5), algorithm=algorithm, samples=samples, hardware=hardware, **training)
    data["model"]["layers"] = copy.deepcopy(layers)
    if input_shape is not None:
        data["model"]["input"] = list(input_shape)
    return data


def reference_layers(model) -> list[dict]:
    """The simulator's shapes as the reference loop's layer descriptions."""
    out = []
    for shape in network_shapes(model):
        if shape.kind == "dense":
            out.append({"type": "dense", "act": shape.activation})
        elif shape.kind == "conv":
            out.append({"type": "conv", "stride": shape.stride, "pad": shape.pad, "act": shape.activation,
                        "in_shape": (shape.channels, shape.height, shape.width)})
        else:
            out.append({"type": "pool", "mode": shape.mode, "size": shape.size, "stride": shape.stride,
                        "in_shape": (shape.channels, shape.height, shape.width)})
    return out


def test_shapes_follow_from_the_input():
    model = make(conv_scenario()).model
    shapes = network_shapes(model)
    assert [s.kind for s in shapes] == ["conv", "pool", "conv", "pool", "dense"]
    assert shapes[0].out_shape == (4, 8, 8) and shapes[1].out_shape == (4, 4, 4)
    assert shapes[2].out_shape == (6, 2, 2) and shapes[3].out_shape == (6, 1, 1)  # 4x4 by k3 s2 p1, then 2/1
    assert shapes[4].input_floats == 6 and shapes[4].output_floats == 5
    assert (model.n_layers, model.input_floats, model.classes) == (5, 64, 5)
    assert shapes[0].first and shapes[4].top and not shapes[2].first


def test_conv_costs_and_bytes():
    """F: K^2 C MACs per output value; B: dz per output, dL/dx (a forward's) above layer 1, dL/dW (a forward's)."""
    s = ConvShape(3, 10, 9, 8, 3, 2, 1, True, "relu", first=False, top=False)
    assert (s.out_height, s.out_width) == (5, 5)
    assert s.param_count == 8 * 3 * 9 + 8 and s.input_floats == 270 and s.output_floats == 200
    assert s.forward_macs() == 200 * 27
    assert s.backward_macs(False) == 200 + 2 * 200 * 27 == s.input_gradient_macs() + s.weight_gradient_macs(False)
    assert s.stash_bytes == 8 * 3 * 9 * 4 and not s.streamable
    p = PoolShape(8, 5, 5, "max", 3, 2, first=False, top=False)
    assert p.out_shape == (8, 2, 2) and p.forward_macs() == 32 * 9 and p.param_count == 0
    g = PoolShape(8, 5, 5, "global", 5, 1, first=False, top=True)
    assert g.out_shape == (8,) and g.forward_macs() == 200


@pytest.mark.parametrize("layers", [SMALL, NIN], ids=["small", "nin"])
@pytest.mark.parametrize("init", ["glorot", "he"])
def test_sgd_through_a_conv_network_is_the_reference_loop(layers, init):
    """Per-sample SGD on the chip (F, B, U of every layer, conv, pool and dense) equals the NumPy loop
    built on the convolution oracles, to float32 rounding."""
    data = conv_scenario(layers)
    data["model"]["init"] = init
    s = make(data)
    result = run(s, progress=False)
    W0, b0, data, order = reference_inputs(s)
    W, b, losses = cnn_sgd_reference(reference_layers(s.model), W0, b0, data.X_train, data.y_train, order,
                                     s.training.learning_rate)
    for k in range(len(W)):
        np.testing.assert_allclose(result.weights[f"W{k + 1}"], W[k], rtol=2e-4, atol=2e-5)
        np.testing.assert_allclose(result.weights[f"b{k + 1}"], b[k], rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("algorithm, extra", [("cp", {}), ("cp", {"delta_rule": "anchored"}), ("mbgd", {"batch_size": 4}),
                                              ("gpipe", {"micro_batches": 4}), ("pipedream", {})])
def test_conv_networks_run_under_every_pipeline_schedule(algorithm, extra):
    result = run(make(conv_scenario(NIN, algorithm=algorithm, **extra)), progress=False)
    assert result.status == "completed"
    assert result.metrics["engine"]["why"] == "the compiled engine runs dense layers; this network has conv and pool layers"
    for layer in result.metrics["layers"]:
        assert layer["peak_sram_bytes"] <= layer["sram_bound_bytes"]


def test_gpipe_equals_mbgd_bitwise_on_a_conv_network():
    gpipe = run(make(conv_scenario(SMALL, algorithm="gpipe", micro_batches=4)), progress=False)
    mbgd = run(make(conv_scenario(SMALL, algorithm="mbgd", batch_size=4)), progress=False)
    for name in mbgd.weights:
        assert np.array_equal(gpipe.weights[name], mbgd.weights[name]), name


def test_op_cycles_and_sram_bound_come_from_the_layers_shapes():
    hw = copy.deepcopy(UNIFORM_HARDWARE)
    hw["pe"].update(macs_per_cycle=16, op_overhead_cycles=3)
    result = run(make(conv_scenario(SMALL, hardware=hw, samples=6)), progress=False)
    shapes = network_shapes(make(conv_scenario(SMALL)).model)
    for layer, shape in zip(result.metrics["layers"], shapes):
        assert layer["kind"] == shape.kind and layer["parameters"] == shape.param_count
        assert layer["op_cycles"]["F"] == math.ceil(shape.forward_macs() / 16) + 3
        builds = not shape.streamable  # per-sample SGD: only the dense layer streams its update
        assert layer["op_cycles"]["B"] == math.ceil(shape.backward_macs(builds) / 16) + 3
        assert (layer["n_in"], layer["n_out"]) == (shape.input_floats, shape.output_floats)
        assert layer["sram_bound"]["gradient_buffer"] == (shape.param_count * 4 if builds else 0)


def refused(tmp_path, layers, input_shape=(1, 8, 8)) -> str:
    path = tmp_path / "s.yaml"
    data = conv_scenario(layers, input_shape)
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        load_scenario(path, [])
    return str(err.value)


def test_a_layer_that_does_not_fit_is_named_with_both_shapes(tmp_path):
    message = refused(tmp_path, [{"type": "conv", "out": 4, "kernel": 9}, {"type": "dense", "out": 5}])
    assert "model.layers[0] (conv): a 9x9 kernel with pad 0 does not fit its 1x8x8 input" in message
    message = refused(tmp_path, [{"type": "pool", "size": 2}, {"type": "pool", "size": 5}, {"type": "dense", "out": 5}])
    assert "model.layers[1] (pool): a 5x5 window does not fit its 1x4x4 input" in message


def test_an_image_layer_above_a_dense_one_is_refused(tmp_path):
    message = refused(tmp_path, [{"type": "dense", "out": 16}, {"type": "conv", "out": 2, "kernel": 1}])
    assert "model.layers[1] (conv) needs an image (channels x height x width) below it, but gets 16 flat" in message


def test_layer_mappings_need_the_input_shape(tmp_path):
    assert "give model.input: [channels, height, width]" in refused(tmp_path, SMALL, None)


def test_an_unknown_layer_type_or_key_is_refused(tmp_path):
    assert "model.layers" in refused(tmp_path, [{"type": "deconv", "out": 4}])
    assert "kernal" in refused(tmp_path, [{"type": "conv", "out": 4, "kernal": 3}])


def test_the_input_must_match_the_data(tmp_path):
    path = tmp_path / "s.yaml"
    data = conv_scenario(SMALL, (1, 4, 4))
    data["model"]["layers"] = [{"type": "conv", "out": 2, "kernel": 1}, {"type": "dense", "out": 10}]
    data["dataset"] = {"name": "digits", "test_fraction": 0.2}
    path.write_text(yaml.safe_dump(data))
    from wafersim.runner import prepare
    from wafersim.training.data import DataError

    with pytest.raises(DataError, match=r"model.input \(channels x height x width\) is 16 but the digits inputs have "
                                        r"64 features"):
        prepare(load_scenario(path, []), str(path))


def test_timing_only_conv_run_takes_the_arithmetic_runs_cycles():
    s = make(conv_scenario(NIN, algorithm="cp"))
    timed = run(s.model_copy(update={"timing_only": True}), progress=False)
    full = run(s, progress=False)
    assert timed.metrics["total_cycles"] == full.metrics["total_cycles"]


@pytest.mark.parametrize("top", [False, True])
@pytest.mark.parametrize("stride, pad", [(1, 1), (2, 0)])
def test_normalization_propagation_gradients_match_finite_differences(top, stride, pad):
    """dL/dx, dL/dW (through the filters' norms), dL/dbeta and dL/dg of L = sum(R * h) against central
    differences of the float64 oracle; and the forward against it."""
    from wafersim.layers import Conv2D
    from wafersim.optimizers import SGDConfig, constant, make_optimizer
    from wafersim_kernels.reference_conv import normprop_conv_forward_ref

    rng = np.random.default_rng(5)
    shape = ConvShape(2, 5, 5, 3, 3, stride, pad, True, "relu", first=False, top=top, norm=True)
    x = rng.standard_normal(shape.input_floats).astype(np.float32)
    W = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    b = np.stack([rng.standard_normal(3), 1 + 0.3 * rng.standard_normal(3)]).astype(np.float32)
    R = rng.standard_normal(shape.output_floats).astype(np.float32)
    layer = Conv2D(shape, W.copy(), b.copy(), make_optimizer(SGDConfig(), constant(0.1)))
    h = layer.forward(x)
    x3 = x.reshape(2, 5, 5)
    np.testing.assert_allclose(h, normprop_conv_forward_ref(x3, W, b, stride, pad, top).reshape(-1), rtol=1e-4,
                               atol=1e-5)
    out = R if top else h  # the top layer keeps dL/dz itself: here R stands for it
    dx = layer.backward(x, out, None if top else R, None)
    x64, W64, b64 = x3.astype(np.float64), W.astype(np.float64), b.astype(np.float64)

    def loss():
        return float((normprop_conv_forward_ref(x64, W64, b64, stride, pad, top).reshape(-1) * R).sum())

    np.testing.assert_allclose(layer.grad_W, central_differences(loss, W64), rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(layer.grad_b, central_differences(loss, b64), rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(dx.reshape(2, 5, 5), central_differences(loss, x64), rtol=2e-3, atol=2e-4)


def test_normalization_propagation_outputs_are_standardized_for_standard_inputs():
    """Data-independent: inputs N(0, 1), any filters: each output channel has mean ~0 and variance ~1."""
    from wafersim.layers.conv import conv_forward

    rng = np.random.default_rng(2)
    shape = ConvShape(4, 12, 12, 3, 3, 1, 0, True, "relu", first=False, top=False, norm=True)
    W, b = shape.initial(rng, "he")
    h = np.stack([conv_forward(shape, W, b, rng.standard_normal(shape.input_floats).astype(np.float32))
                  for _ in range(300)])
    h = h.reshape(300, 3, -1)
    np.testing.assert_allclose(h.mean(axis=(0, 2)), 0, atol=0.05)
    np.testing.assert_allclose(h.var(axis=(0, 2)), 1, atol=0.1)


def test_normalization_propagation_in_yaml_and_its_costs(tmp_path):
    layers = [{"type": "conv", "out": 4, "kernel": 3, "pad": 1, "norm": True}, {"type": "global_pool"}]
    data = conv_scenario(layers, (1, 8, 8))
    data["model"]["layers"][-1:] = [{"type": "conv", "out": 5, "kernel": 1, "norm": True}, {"type": "global_pool"}]
    data["model"]["bias"] = False
    shape = network_shapes(make(data).model)[0]
    assert shape.norm and shape.param_count == 4 * 9 + 2 * 4
    assert shape.forward_macs() == shape.conv_macs() + 2 * 36
    result = run(make(data), progress=False)
    assert result.status == "completed" and result.weights["b1"].shape == (2, 4)
    message = refused(tmp_path, [{"type": "conv", "out": 4, "kernel": 3, "norm": True, "activation": "tanh"},
                                 {"type": "dense", "out": 5}])
    assert "normalization propagation recentres ReLU outputs, and its activation is tanh" in message
