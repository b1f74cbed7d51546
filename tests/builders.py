"""Small scenarios on hardware with simple, exact timing, shared by the tests."""

from __future__ import annotations

import copy
import json
import threading

import numpy as np
from hypothesis import strategies as st

from wafersim.config import Scenario

# Every op costs exactly 1 + 4 = 5 cycles (one MAC pass fits in a cycle) and every message
# between neighbours takes 0 * hops + ceil(bytes / 10**6) = 1 cycle: "uniform layers, no
# link latency" in the sense of the design notes.
UNIFORM_HARDWARE = {
    "name": "uniform-test",
    "clock_hz": 1.0e9,
    "mesh": {"rows": 4, "cols": 4},
    "pe": {"macs_per_cycle": 10**6, "sram_bytes": 1 << 24, "op_overhead_cycles": 4},
    "noc": {"hop_latency_cycles": 0, "link_bytes_per_cycle": 10**6, "contention": False},
}


def scenario_dict(layers=(8, 8, 8, 4), algorithm="cp", samples=40, hardware=None, dataset_samples=80, **training):
    """A scenario mapping: synthetic data shaped by `layers`, uniform hardware unless given."""
    return {
        "name": f"test-{algorithm}",
        "hardware": copy.deepcopy(hardware or UNIFORM_HARDWARE),
        "placement": "snake",
        "model": {"layers": list(layers), "activation": "relu", "init": "glorot", "bias": True},
        "dataset": {"name": "synthetic", "samples": dataset_samples, "test_fraction": 0.25},
        "training": {"algorithm": algorithm, "learning_rate": 0.05, "samples": samples, "eval_every": 20,
                     "seed": 0, **training},
    }


def make(data: dict) -> Scenario:
    return Scenario.model_validate(data)


def fake_asgd_results():
    """Hand-built results of the shape an ASGD run writes: two workers of two layers, two
    parameter-server shards, ops of every kind (F, B, U, S, R) and messages of every kind."""
    import numpy as np

    from wafersim.records import MESSAGE_COLUMNS, OPS_COLUMNS
    from wafersim.results import Saved

    roles = {(0, 0): ("worker", 1, 1, "W1 L1", 0.5), (0, 1): ("worker", 1, 2, "W1 L2", 0.4),
             (1, 0): ("worker", 2, 1, "W2 L1", 0.3), (1, 1): ("worker", 2, 2, "W2 L2", 0.2),
             (0, 2): ("shard", None, 1, "S1", 0.1), (1, 2): ("shard", None, 2, "S2", 0.7)}
    pes = []
    for r in range(3):
        for c in range(3):
            role, worker, layer, label, util = roles.get((r, c), (None, None, None, None, 0.0))
            pes.append({"row": r, "col": c, "layer": layer, "role": role, "worker": worker, "label": label,
                        "utilization": util, "busy_cycles": int(util * 100), "ops": 1 if role else 0})

    def staleness(hist):
        values = [int(k) for k, n in hist.items() for _ in range(n)]
        return {"updates": len(values), "mean": sum(values) / len(values), "min": min(values), "max": max(values),
                "histogram": hist}

    metrics = {
        "algorithm": "asgd", "status": "completed", "total_cycles": 100, "simulated_seconds": 1e-7,
        "samples_trained": 4, "mean_utilization": 0.3667, "final_test_accuracy": 0.5, "final_train_loss": 1.0,
        "mean_staleness": 0.75, "peak_sram_bytes": {"0,0": 10, "0,2": 30},
        "pe_utilization": pes,
        "chains": [{"name": "worker 1", "pes": [[0, 0], [0, 1]]}, {"name": "worker 2", "pes": [[1, 0], [1, 1]]}],
        "layers": [{"layer": 1, "role": "shard", "label": "S1", "row": 0, "col": 2, "staleness": staleness({"0": 2, "1": 2})},
                   {"layer": 2, "role": "shard", "label": "S2", "row": 1, "col": 2, "staleness": staleness({"0": 1, "2": 3})}],
        "scenario": {"name": "fake-asgd", "training": {"algorithm": "asgd"},
                     "hardware": {"name": "fake-hw", "clock_hz": 1.0e9, "mesh": {"rows": 3, "cols": 3}}},
    }
    ops_rows = [  # layer, kind, sample, start, end, row, col
        (1, 0, 0, 0, 10, 0, 0), (2, 0, 0, 12, 20, 0, 1), (2, 1, 0, 20, 30, 0, 1), (1, 1, 0, 32, 40, 0, 0),
        (1, 0, 1, 0, 10, 1, 0), (2, 0, 1, 12, 20, 1, 1), (2, 1, 1, 20, 30, 1, 1), (1, 1, 1, 32, 40, 1, 0),
        (1, 3, 0, 42, 45, 0, 2), (2, 4, 1, 42, 50, 1, 2), (1, 2, 0, 50, 55, 0, 2), (2, 2, 1, 52, 60, 1, 2),
    ]
    msg_rows = [  # src_row, src_col, dst_row, dst_col, sent, arrival, nbytes, kind, tag
        (0, -1, 0, 0, 0, 0, 32, 0, 0), (0, 0, 0, 1, 10, 12, 32, 0, 0), (0, 1, 0, 0, 30, 32, 32, 1, 0),
        (0, -1, 0, 1, 0, 2, 4, 2, 0), (0, 0, 0, 2, 40, 42, 64, 3, 0), (0, 0, 0, 2, 40, 42, 4, 4, 0),
        (0, 2, 0, 0, 45, 47, 64, 5, 0), (1, 1, 1, 2, 30, 42, 16, 6, 1),
    ]
    ops = {name: np.array(col, dtype=np.int64) for name, col in zip(OPS_COLUMNS, zip(*ops_rows))}
    messages = {name: np.array(col, dtype=np.int64) for name, col in zip(MESSAGE_COLUMNS, zip(*msg_rows))}
    curve = [(2, 50, 1.5, 0.25), (4, 100, 1.0, 0.5)]
    return Saved(metrics, curve, ops, messages)


def dense_layer(n_in: int = 3, n_out: int = 2, rate: float = 1.0, arithmetic: bool = True, optimizer=None,
                builds_gradient: bool = True, first: bool = True, top: bool = False):
    """A zero-initialised dense layer n_in -> n_out with bias (or its timing twin), stepping with plain SGD at `rate`."""
    import numpy as np

    from wafersim import layers
    from wafersim.optimizers import SGDConfig, constant, make_optimizer

    shape = layers.DenseShape(n_in, n_out, True, "relu", first=first, top=top)
    optimizer = optimizer or make_optimizer(SGDConfig(), constant(rate))
    return layers.build(shape, np.zeros((n_out, n_in), np.float32), np.zeros(n_out, np.float32), optimizer,
                        arithmetic, builds_gradient)


def with_engine(data: dict, engine: str) -> dict:
    """A copy of scenario mapping `data` that asks for `engine` (auto, events or compiled)."""
    return {**copy.deepcopy(data), "engine": engine}


def staleness_per_pe(ops: dict) -> dict[tuple[int, int, int], dict[int, int]]:
    """Each PE's staleness histogram counted from an op table alone: (layer, row, col) -> {staleness: updates}.

    A PE's weight version is the number of its U ops begun so far; a U is tagged with the last sample
    of its group (CP: the one sample), and is as stale as the versions between that sample's F and
    the U. An independent count, for checking the programs' own bookkeeping."""
    from wafersim.records import KINDS

    out = {}
    key = ops["row"] * (1 << 20) + ops["col"]
    for pe in np.unique(key):
        mine = np.flatnonzero(key == pe)
        mine = mine[np.argsort(ops["start"][mine], kind="stable")]
        version, seen, counts = 0, {}, {}
        for kind, sample in zip(ops["kind"][mine].tolist(), ops["sample"][mine].tolist()):
            if kind == KINDS["F"]:
                seen[sample] = version
            elif kind == KINDS["U"]:
                stale = version - seen.pop(sample)
                counts[stale] = counts.get(stale, 0) + 1
                version += 1
        i = mine[0]
        out[(int(ops["layer"][i]), int(ops["row"][i]), int(ops["col"][i]))] = dict(sorted(counts.items()))
    return out


def lockstep_staleness(depth: int, k: int, updates: int) -> dict[int, int]:
    """The paper's staleness histogram of layer k of D = depth under CP: the pipeline's first updates
    0, 1, ..., 2(D-k)-1 versions stale once each, every later one 2(D-k)."""
    full = 2 * (depth - k)
    return {**{s: 1 for s in range(full)}, full: updates - full}


def in_steps(run, chunk: int) -> list:
    """Every step of a compiled timing pass under way (`begin()`), `chunk` ops at a time, until it ends."""
    steps = [run.step(chunk)]
    while run.paused:
        steps.append(run.step(chunk))
    return steps


def assert_same_run(a, b) -> None:
    """Two RunResults are bitwise identical: status, message, curve, weights, op and message
    tables, and metrics apart from the `engine` entry and the scenario (which names the engine)."""
    assert (a.status, a.message) == (b.status, b.message)
    assert np.array_equal(np.array(a.curve, dtype=float), np.array(b.curve, dtype=float), equal_nan=True)
    for mine, theirs in ((a.weights, b.weights), (a.ops, b.ops), (a.messages, b.messages)):
        assert list(mine) == list(theirs)
        for key in mine:
            assert mine[key].dtype == theirs[key].dtype and mine[key].shape == theirs[key].shape, key
            assert mine[key].tobytes() == theirs[key].tobytes(), key
    skip = ("engine", "scenario")
    assert [k for k in a.metrics if k not in skip] == [k for k in b.metrics if k not in skip]
    for key in a.metrics:
        if key not in skip:
            assert a.metrics[key] == b.metrics[key], key


def when_tasks_run(scheduler: str, tasks: int, act, settle: float = 1.0) -> threading.Thread:
    """A started thread that calls act(spy, busy) once `tasks` tasks have run `settle` seconds on the
    cluster at `scheduler` (spy: a client of it; busy: the addresses of the workers running them)."""
    import time

    import distributed

    def watch():
        with distributed.Client(scheduler, timeout=30) as spy:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and len(spy.call_stack()) < tasks:
                time.sleep(0.05)
            time.sleep(settle)  # past the task's start, into training
            act(spy, sorted(spy.call_stack()))

    thread = threading.Thread(target=watch)
    thread.start()
    return thread


def kill_worker(spy, busy: list, killed: list) -> None:
    """SIGKILL the first busy worker's process (recorded in `killed`); its nanny starts another."""
    import os
    import signal

    if busy:
        pids = spy.run(os.getpid, workers=busy[:1])
        os.kill(pids[busy[0]], signal.SIGKILL)
        killed.append(busy[0])


def reference_inputs(s: Scenario):
    """What a reference loop needs for a synthetic-data scenario: initial weights and biases, the data, the sample order."""
    from wafersim.runner import sample_order
    from wafersim.training.data import load_dataset
    from wafersim.training.model import init_params

    m, t = s.model, s.training
    data = load_dataset("synthetic", None, s.dataset.test_fraction, t.seed, n_features=m.input_floats,
                        n_classes=m.classes, samples=s.dataset.samples)
    W0, b0 = init_params(m, t.seed)
    return W0, b0, data, sample_order(len(data.y_train), t.samples, t.seed)


def assert_same_result(a, b) -> None:
    """Equal in every part (NaN equal to NaN, as in timing-only curves: compared by their text), apart
    from the engine entry: a pipelined run without checkpoints runs on the compiled engine, a
    checkpointed one on the event engine, and they must agree."""
    assert a.status == b.status and repr(a.curve) == repr(b.curve)

    def metrics(m):
        return json.dumps({k: v for k, v in m.items() if k != "engine"}, sort_keys=True)

    assert metrics(a.metrics) == metrics(b.metrics)
    for part in ("weights", "ops", "messages"):
        x, y = getattr(a, part), getattr(b, part)
        assert list(x) == list(y)
        for key in x:
            np.testing.assert_array_equal(x[key], y[key], err_msg=f"{part} {key}")


def stop_after_checkpoints(n_checkpoints: int, monkeypatch) -> list:
    """Make the run stop (as on Ctrl-C) right after its n-th checkpoint is saved."""
    from wafersim import checkpoint

    real_save, saved = checkpoint.save, []

    def save(*args, **kwargs):
        real_save(*args, **kwargs)
        saved.append(args[3])
        if len(saved) == n_checkpoints:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save", save)
    return saved


def assert_resumes_seamlessly(s: Scenario, tmp_path, monkeypatch) -> None:
    """A run of `s` checkpointed every 10 samples, stopped after its second checkpoint and resumed,
    ends exactly as the run never stopped."""
    from wafersim.runner import Checkpointing, run
    from wafersim.session import CheckpointPolicy

    whole = run(s, progress=False)
    stop_after_checkpoints(2, monkeypatch)
    policy = CheckpointPolicy(samples=10)
    assert run(s, progress=False, checkpoint=Checkpointing(tmp_path, policy)).status == "interrupted"
    monkeypatch.undo()
    assert_same_result(run(s, progress=False, checkpoint=Checkpointing(tmp_path, policy, resume=True)), whole)


@st.composite
def random_hardware(draw) -> dict:
    """Hardware with random op and link costs (the uniform hardware's mesh and SRAM): any timing a run may meet."""
    hw = copy.deepcopy(UNIFORM_HARDWARE)
    hw["pe"].update(macs_per_cycle=draw(st.integers(1, 64)), op_overhead_cycles=draw(st.integers(0, 5)))
    hw["noc"].update(hop_latency_cycles=draw(st.integers(0, 5)), link_bytes_per_cycle=draw(st.integers(1, 64)),
                     contention=draw(st.booleans()))
    return hw


def central_differences(f, p: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f / d p by central differences, p a float64 array changed in place and restored."""
    grad = np.empty_like(p)
    flat, gflat = p.reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        saved = flat[k]
        flat[k] = saved + eps
        plus = f()
        flat[k] = saved - eps
        minus = f()
        flat[k] = saved
        gflat[k] = (plus - minus) / (2 * eps)
    return grad
