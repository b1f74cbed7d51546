"""PipeDream's vertical sync: every stage runs sample s on the weight version stage 1 tagged it with.

The tag v_s is the number of updates stage 1 had applied when it forwarded s; every stage
applies its updates in sample order, so its update of s is s - v_s stale, the same at
every stage. The tags are read back from layer 1's staleness list.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from tests.builders import (UNIFORM_HARDWARE, assert_resumes_seamlessly, assert_same_run, make, random_hardware,
                            reference_inputs, scenario_dict)

from wafersim import algorithms
from wafersim.config import load_scenario
from wafersim.runner import prepare, run, sample_order
from wafersim.session import CheckpointPolicy, Session
from wafersim_kernels.reference_pipeline import stale_reference, versioned_kernel_reference

N = 40
SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"


def hardware(hop: int = 0, **noc) -> dict:
    hw = copy.deepcopy(UNIFORM_HARDWARE)
    hw["noc"].update(hop_latency_cycles=hop, **noc)
    return hw


def scenario(K: int, hop: int = 0, samples: int = N, hw: dict | None = None, layers=None, **training):
    return make(scenario_dict(layers=tuple(layers or [6] * K + [3]), algorithm="pipedream", samples=samples,
                              hardware=hw or hardware(hop), **training))


def vsync(K: int, hop: int = 0, **kwargs):
    return scenario(K, hop, vertical_sync=True, **kwargs)


def simulate(s) -> Session:
    """The finished event session of `s`: its recorder has every sample's loss and every update's staleness."""
    prepared = prepare(s, "test", trace=False)
    session = Session(s, prepared, sample_order(len(prepared.data.y_train), prepared.n_samples, s.training.seed),
                      False, CheckpointPolicy())
    session.start()
    while not session.advance():
        pass
    return session


def tags(session: Session) -> list[int]:
    """v_s for every sample, from layer 1's staleness (one update per sample, in sample order)."""
    return [s - stale for s, stale in enumerate(session.recorder.staleness[0])]


def inputs(s):
    """The initial weights, training data and sample order of scenario `s`, for the reference loops."""
    W0, b0, data, order = reference_inputs(s)
    return W0, b0, data.X_train, data.y_train, order


def assert_is_the_step_model(session: Session, s, versions: list[list[int]]) -> None:
    """The run's weights and per-sample losses are the kernel loop's with these versions, bit for bit."""
    W, b, losses = versioned_kernel_reference(*inputs(s), s.training.learning_rate, "relu", versions, anchored=True)
    arrays = session.arrays()
    for k in range(len(W)):
        assert arrays[f"W{k + 1}"].tobytes() == W[k].tobytes(), k
        assert arrays[f"b{k + 1}"].tobytes() == b[k].tobytes(), k
    assert session.recorder.losses.by_sample.tobytes() == losses.tobytes()


def uniform_versions(K: int, samples: int = N) -> list[int]:
    return [max(0, s - (K - 1)) for s in range(samples)]


@pytest.mark.parametrize("K", [1, 2, 3, 5])
@pytest.mark.parametrize("hop", [0, 3])
def test_vertical_sync_is_the_step_model_with_delay_k_minus_1_at_every_stage(K, hop):
    """Uniform ops: v_s = max(0, s-(K-1)), so every stage steps on grad(W(max(0, s-(K-1)))), anchored:
    bitwise the kernel loop of that model, and the NumPy loop `stale_reference(delays=[K-1]*K)`
    to float32 rounding (the kernels' fast-math sums are ordered otherwise)."""
    s = vsync(K, hop)
    session = simulate(s)
    assert tags(session) == uniform_versions(K)
    assert_is_the_step_model(session, s, [uniform_versions(K)] * K)
    W, b, losses = stale_reference(*inputs(s), s.training.learning_rate, "relu", [K - 1] * K, anchored=True)
    arrays = session.arrays()
    for k in range(K):
        np.testing.assert_allclose(arrays[f"W{k + 1}"], W[k], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(arrays[f"b{k + 1}"], b[k], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(session.recorder.losses.by_sample, losses, rtol=1e-5)


@pytest.mark.parametrize("K", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("hop", [0, 2])
def test_vertical_sync_closed_forms_on_uniform_ops(K, hop):
    """Every stage: staleness 0, 1, ..., K-2 once each, then K-1; K-k+1 in flight; weight versions
    1 at stage 1 (it reads only its current weights), K at 1 < k < K (its K-k+1 held samples'
    consecutive tags and the k-1 versions after them up to its current weights) and K+1 at the
    top (it holds nothing when it updates and keeps the last tag, s-(K-1)); the bound, K copies
    of W and b above stage 1. The op timing is PipeDream's: the tag's 4 bytes cost no cycle here."""
    result = run(vsync(K, hop), progress=False)
    plain = run(scenario(K, hop), progress=False)
    for layer in result.metrics["layers"]:
        k = layer["layer"]
        assert layer["staleness"]["histogram"] == {**{str(v): 1 for v in range(K - 1)}, str(K - 1): N - (K - 1)}
        assert layer["max_in_flight"] == K - k + 1
        assert layer["max_weight_versions"] == (1 if k == 1 else K if k < K else K + 1)
        params = (6 * 6 + 6) if k < K else (6 * 3 + 3)  # W and b: the forward reads both
        assert layer["sram_bound"]["weight_stash"] == (0 if k == 1 else K * params * 4)
        assert layer["peak_sram_bytes"] <= layer["sram_bound_bytes"]
    assert result.metrics["total_cycles"] == plain.metrics["total_cycles"]


def test_the_tag_rides_on_the_activation_message():
    """An activation between stages carries its sample's tag, 4 bytes more; on a link of 4 bytes a
    cycle that makes each such message a cycle longer."""
    slow = hardware(0, link_bytes_per_cycle=4)
    runs = {v: run(vsync(3, hw=slow) if v else scenario(3, hw=slow), progress=False) for v in (False, True)}
    for v, result in runs.items():
        m = result.messages
        between = (m["kind"] == 0) & (m["src_col"] >= 0)  # activations from a stage, not from the port
        assert set(m["nbytes"][between].tolist()) == {6 * 4 + (4 if v else 0)}
        assert set(m["nbytes"][(m["kind"] == 0) & (m["src_col"] < 0)].tolist()) == {6 * 4}
    assert runs[True].metrics["total_cycles"] > runs[False].metrics["total_cycles"]


@pytest.mark.parametrize("K", [1, 3, 4])
def test_vertical_sync_false_is_the_existing_pipedream(K, monkeypatch):
    """The default and vertical_sync: false run the plain anchored program (bit for bit, metrics
    included); its step model, stage k on W(max(0, s-(K-k))), holds bitwise as well."""
    default = run(scenario(K), progress=False)
    off = run(scenario(K, vertical_sync=False), progress=False)
    spec = algorithms.ALGORITHMS["pipedream"]
    monkeypatch.setitem(algorithms.ALGORITHMS, "pipedream", dataclasses.replace(spec, layer_program=None))
    plain_program = run(scenario(K), progress=False)
    assert_same_run(default, off)
    assert_same_run(default, plain_program)
    assert all("max_weight_versions" not in layer for layer in default.metrics["layers"])
    monkeypatch.undo()
    s = scenario(K)
    assert_is_the_step_model(simulate(s), s, [[max(0, i - (K - k)) for i in range(N)] for k in range(1, K + 1)])


def test_timing_only_tracks_the_versions_and_copies_nothing(monkeypatch):
    """Timing only: the same ops, cycles, staleness, versions and SRAM, with no arrays behind the copies."""
    from wafersim.algorithms.pipedream import VerticalSyncProgram

    kept, real_update = [], VerticalSyncProgram.update

    def update(self):
        op = real_update(self)
        kept.extend(self.copies.values())
        return op

    s = vsync(4)
    full = run(s, progress=False)
    monkeypatch.setattr(VerticalSyncProgram, "update", update)
    bare = run(s.model_copy(update={"timing_only": True}), progress=False)
    assert bare.metrics["total_cycles"] == full.metrics["total_cycles"]
    assert bare.ops["start"].tobytes() == full.ops["start"].tobytes()
    for a, b in zip(bare.metrics["layers"], full.metrics["layers"]):
        for key in ("staleness", "max_weight_versions", "max_in_flight", "peak_sram_bytes"):
            assert a[key] == b[key], key
    assert kept and all(copy_ is None for copy_ in kept)


def slow_first_stage() -> dict:
    """Few MACs a cycle and a wide input: stage 1's F and U (64 x 2 weights) take about 130 cycles,
    every op above it under 10, so a sample's round trip above stage 1 ends within stage 1's next op."""
    hw = copy.deepcopy(UNIFORM_HARDWARE)
    hw["pe"].update(macs_per_cycle=1, op_overhead_cycles=1)
    return hw


@pytest.mark.parametrize("K", [2, 3, 5])
def test_a_slow_first_stage_tags_two_samples_with_each_version(K):
    """Stage 1 forwards s (tag v), then s+1 (still v: s is still on its way); s's delta is back by
    then and s+1's before U(s) ends, so backward first it applies both updates and forwards s+2 at
    v+2: v_s = 2 floor(s/2) whatever K, staleness s mod 2 at every stage, and every stage on W(v_s)."""
    s = vsync(K, hw=slow_first_stage(), layers=[64] + [2] * (K - 1) + [3], samples=30)
    session = simulate(s)
    versions = [2 * (i // 2) for i in range(30)]
    assert tags(session) == versions
    assert all(stale == session.recorder.staleness[0] for stale in session.recorder.staleness)
    assert_is_the_step_model(session, s, [versions] * K)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_hardware(), st.lists(st.sampled_from([3, 5, 8, 16, 32]), min_size=2, max_size=5))
def test_vertical_sync_on_any_timing_is_one_version_per_sample(hw, widths):
    """Whatever the op and link times: every stage's update of s is equally stale (all run s on
    W(v_s)); the tags never decrease and lie in [s-(K-1), s] (stage 1 holds at most K); the run is
    the kernel loop with those versions bit for bit; no stage keeps more than K+1 versions (K
    copies, the bound), stage 1 one."""
    K = len(widths)  # the widths below the 3 outputs, input first
    s = vsync(K, hw=hw, layers=widths + [3], samples=24)
    session = simulate(s)
    versions = tags(session)
    assert all(stale == session.recorder.staleness[0] for stale in session.recorder.staleness)
    assert all(a <= b for a, b in zip(versions, versions[1:]))
    assert all(max(0, i - (K - 1)) <= v <= i for i, v in enumerate(versions))
    assert_is_the_step_model(session, s, [versions] * K)
    for layer in session.metrics("completed", "events")["layers"]:
        assert layer["max_weight_versions"] <= (1 if layer["layer"] == 1 else K + 1)
        assert layer["peak_sram_bytes"] <= layer["sram_bound_bytes"]


def test_vertical_sync_is_a_key_of_pipedream_alone():
    with pytest.raises(ValidationError, match=r"training.vertical_sync is True but pipedream-2bw does not use it "
                                              r"\(it is a key of pipedream\)"):
        make(scenario_dict(algorithm="pipedream-2bw", vertical_sync=True))


@pytest.mark.parametrize("timing_only", [False, True])
def test_a_resumed_vertical_sync_run_equals_the_uninterrupted_one(timing_only, tmp_path, monkeypatch):
    """The tags in flight and the kept versions are part of the checkpoint."""
    s = vsync(4, samples=40).model_copy(update={"timing_only": timing_only})
    assert_resumes_seamlessly(s, tmp_path, monkeypatch)


def test_the_shipped_scenario_is_pipedream_yaml_with_vertical_sync(tmp_path):
    """scenarios/pipedream-vsync.yaml: pipedream.yaml's network, data, hardware and rate, vertical sync
    on; it fits, validates against the schema `wafersim schema` writes, and a short run keeps
    1 version at stage 1 and at most K+1 = 4 above."""
    jsonschema = pytest.importorskip("jsonschema")
    from wafersim.cli import main
    from wafersim.config import _safe_load
    from wafersim.schemas import FILES

    mine, theirs = (load_scenario(SCENARIOS / f"{n}.yaml") for n in ("pipedream-vsync", "pipedream"))
    assert (mine.hardware, mine.model, mine.dataset, mine.placement) == \
        (theirs.hardware, theirs.model, theirs.dataset, theirs.placement)
    assert mine.training.model_dump() == {**theirs.training.model_dump(), "vertical_sync": True}
    prepared = prepare(mine, "pipedream-vsync")
    assert prepared.overflow == [] and prepared.n_samples == 2876
    assert main(["schema", "--out", str(tmp_path)]) == 0
    schema = json.loads((tmp_path / FILES["scenario"]).read_text())
    jsonschema.validate(_safe_load((SCENARIOS / "pipedream-vsync.yaml").read_text()), schema)
    short = run(load_scenario(SCENARIOS / "pipedream-vsync.yaml", ["training.epochs=null", "training.samples=200"]),
                progress=False, trace=False)
    versions = [layer["max_weight_versions"] for layer in short.metrics["layers"]]
    assert short.status == "completed" and versions[0] == 1 and max(versions) <= 4
